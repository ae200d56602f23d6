from setuptools import find_packages, setup

from memora import __version__ as version

with open("requirements.txt") as f:
	install_requires = [line for line in f.read().splitlines() if line and not line.startswith("#")]

setup(
	name="memora",
	version=version,
	description="Spaced-repetition scheduling on Redis sorted sets and fan memory for AI personalisation",
	author="Memora contributors",
	author_email="dev@memora.invalid",
	packages=find_packages(exclude=("tests", "tests.*", "benchmarks", "benchmarks.*")),
	zip_safe=False,
	include_package_data=True,
	install_requires=install_requires,
	python_requires=">=3.10",
	entry_points={"console_scripts": ["memora = memora.cli:main"]},
)
