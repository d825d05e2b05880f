from netspec.cli import run

run()
