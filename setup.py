"""pip install path for people who only train or evaluate (no ROS needed).

The ROS 2 package (node, SetTarget service) is built by colcon from CMakeLists.txt
and package.xml at the same root; this file installs ``hit_core`` and the ``hit`` command.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
TORCH = "torch>=2.2,<=2.13.0"

EXTRAS = {
    "torch": [TORCH],
    "export": [TORCH, "onnx>=1.16", "onnxscript>=0.2"],
    "train": [TORCH, "tensorboard>=2.14"],
    "eval": ["matplotlib>=3.7"],
    "bag": ["rosbags>=0.10"],
    "tensorrt": [TORCH, "tensorrt>=10.0", "onnx>=1.16", "onnxconverter-common>=1.14"],
    "test": ["pytest>=8", "pytest-timeout>=2.3"],
}
EXTRAS["all"] = sorted({req for name, reqs in EXTRAS.items() if name != "tensorrt" for req in reqs})

setup(
    name="hit-ros",
    version="0.1.0",
    description="HiT visual tracker (ICCV 2023): model, tracker, export, training and evaluation",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["hit_core", "hit_core.*"]),
    package_data={"hit_core": ["assets/*", "assets/**/*", "data/splits/*", "interfaces/vision_msgs/msg/*.msg"]},
    install_requires=[
        "numpy>=1.24",
        "pyyaml>=6",
        "tqdm>=4.60",
        "opencv-contrib-python-headless>=4.8",
        # On x86-64 Linux the build of ONNX Runtime with the OpenVINO execution provider (same Python module,
        # faster CPU graphs; see hit_core.tracking.backends.onnxruntime_backend); elsewhere the plain one.
        'onnxruntime-openvino>=1.20; sys_platform == "linux" and platform_machine == "x86_64"',
        'onnxruntime>=1.17; sys_platform != "linux" or platform_machine != "x86_64"',
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["hit=hit_core.cli:main"]},
)
