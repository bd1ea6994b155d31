"""Reading and rendering a recording (`eunomia report`).

    load.py            index.json and report.json → typed, validated structures (model.py)
    console.py         the recording on a terminal (Rich)
    html.py            one self-contained HTML page; html_container.py, svg.py, netmap.py for its parts
"""

from .load import RecordingError, load_recording, select_containers
from .model import ContainerRecording, Recording, Report

__all__ = ["ContainerRecording", "Recording", "RecordingError", "Report", "load_recording", "select_containers"]
