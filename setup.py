"""The build's one step beyond pyproject.toml: the delay line's optional C engine.

`pytest_qos/lab/_delayline.c` compiles where a C compiler and Python's headers exist; where
they do not, `optional=True` lets the install go on without it, and the WAN delay line
forwards in Python instead (slower: see docs/lab.md). Which engine ran is in every result.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pytest_qos.lab._delayline",
            sources=["pytest_qos/lab/_delayline.c"],
            extra_compile_args=["-O2", "-Wall"],
            optional=True,
        )
    ]
)
