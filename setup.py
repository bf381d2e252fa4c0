"""Builds faultput's native core; everything else is in pyproject.toml."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "faultput._core",
            sources=[f"src/faultput/native/{name}.c" for name in ("module", "touch", "gate", "uffd", "latency", "counters")],
            depends=["src/faultput/native/core.h"],
            include_dirs=["src/faultput/native"],
            extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                                "-Wno-missing-field-initializers", "-Wno-cast-function-type"],
            libraries=["pthread"],
        )
    ],
)
