"""Least-privilege advice from recordings: the seccomp profile and the
capability set a container needs, and their proof by enforcement.

    inputs.py    the container's reports, from one or more recordings
    runtime.py   what the container runtime itself needs (measured)
    seccomp.py   the profile: OCI/Docker JSON, Kubernetes SeccompProfile
    caps.py      the capabilities: docker flags, k8s securityContext, JSON
    verify.py    rerun the workload under the advice and compare
"""


from ..report.load import one_line


class AdviceError(Exception):
    """The advice cannot be given from these recordings; the message (one bounded line,
    controls escaped: it quotes recorded names) names the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))
