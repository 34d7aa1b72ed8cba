"""The build step pyproject.toml cannot say: the SQL migrations, kept at the top in
`migrations/`, are copied into the package as `hub/migrations/`, so an installed hub carries
them (`hub.service.database.migration_files` reads them there)."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path(__file__).resolve().parent / "migrations"


class WithMigrations(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads them where they are
        target = Path(self.build_lib) / "hub" / "migrations"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(SOURCE.glob("*.sql")):
            self.copy_file(str(path), str(target / path.name))


setup(cmdclass={"build_py": WithMigrations})
