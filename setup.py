"""Build hook: `pip install .` compiles the BPF objects (via `make bpf`)."""

import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithBpf(build_py):
    def run(self) -> None:
        subprocess.run(["make", "--no-print-directory", "bpf"], check=True)
        super().run()


setup(cmdclass={"build_py": BuildWithBpf})
