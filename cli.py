"""Command-line commands, registered on the app (Flask's tutorial pattern)."""

from __future__ import annotations

import click
from flask import Flask, current_app

from engine.errors import BpmnError
from services import definitions, demo, signin, users
from services.actors import Actor
from services.deploy_gate import DeployRefused
from services.errors import ServiceError
from storage.migrate import upgrade


def _uow(write: bool = True):
    from app import uow_for

    return uow_for(current_app, write)


def register_commands(app: Flask) -> None:
    @app.cli.command("init-db")
    def init_db() -> None:
        """Create or upgrade the database schema."""
        upgrade(current_app.extensions["runonce.engine"])
        click.echo("数据库已就绪 / database is up to date")
        _migrate_files()

    @app.cli.command("migrate-files")
    def migrate_files() -> None:
        """Move attachments kept as data URLs (first version) into the file store."""
        _migrate_files()

    @app.cli.command("rebuild-summary")
    def rebuild_summary() -> None:
        """Count the supervisors' summary again from every case (after rows were written outside the commands,
        e.g. an import: until then the dashboard reads the live tables)."""
        from services import summary

        with current_app.extensions["runonce.engine"].begin() as connection:
            cases = summary.rebuild(connection)
        click.echo(f"督查汇总已重算 / supervisors' summary rebuilt: {cases} cases")

    def _seed_demo_cases() -> None:
        from services.demo_cases import seed_cases

        made = seed_cases(_uow(), lambda line: click.echo("  演示案件 / demo case: " + line))
        from services import document_rendering

        document_rendering.drain()  # their documents' PDFs, before the process forks or exits
        if made:
            click.echo(f"  演示案件已创建 / demo cases created: {len(made)}")

    def _migrate_files() -> None:
        from services.file_migration import move_data_urls

        report = move_data_urls(_uow())
        if report.files:
            click.echo(f"附件已移入文件库 / attachments moved to the file store: {report.files} files, "
                       f"{report.cases} cases, {report.events} audit events (chain re-hashed from "
                       f"#{report.rehashed_from})")

    @app.cli.command("deploy")
    @click.argument("directory", required=False)
    def deploy(directory: str | None) -> None:
        """Load the diagrams of workflows/ as new versions (unchanged ones are skipped)."""
        from pathlib import Path

        from app import workflows_dir

        folder = Path(directory) if directory else workflows_dir(current_app)
        try:
            results = definitions.deploy_directory(_uow(), folder, Actor.system("cli"))
        except BpmnError as err:
            raise click.ClickException(str(err)) from err
        except DeployRefused as err:  # the deploy gate: data flow and the matter's scenarios
            lines = [f"未部署 / {err}"]
            for problem in err.problems:
                where = " ".join(x for x in (problem.filename, problem.element_id) if x)
                lines.append(f"  - {where}: {problem.message_zh} / {problem.message_en}")
            raise click.ClickException("\n".join(lines)) from err
        for r in results:
            state = "新版本 / new version" if r.created else "未变化 / unchanged"
            click.echo(f"{r.process_id} v{r.version}: {state}")

    @app.cli.command("create-user")
    @click.option("--username", required=True)
    @click.option("--display-name", required=True)
    @click.option("--role", "roles", multiple=True, required=True)
    @click.option("--unit", "unit_code")
    @click.option("--email")
    @click.password_option()
    def create_user(username, display_name, roles, unit_code, email, password) -> None:
        """Add a user (roles: window, handler, lead, supervisor, designer, admin)."""
        try:
            users.create_user(
                _uow(), username=username, password=password, display_name=display_name, roles=roles,
                unit_code=unit_code, email=email, actor=Actor.system("cli"),
            )
        except ServiceError as err:
            raise click.ClickException(str(err)) from err
        click.echo(f"用户已创建 / user created: {username}")

    @app.cli.command("create-api-client")
    @click.option("--name", required=True, help="The calling system, e.g. jilin-yichuang.")
    @click.option("--scope", "scopes", multiple=True, required=True,
                  help="matters:read, applications:submit, cases:read, documents:read, window:act, webhooks:manage")
    @click.option("--rate", type=int, default=None, help="Calls a minute (default API_RATE_PER_MINUTE).")
    def create_api_client(name: str, scopes: tuple[str, ...], rate: int | None) -> None:
        """Add a client of /api/v1 and print its token (once: only its hash is kept)."""
        from services import api_clients

        try:
            issued = api_clients.create(_uow(), name, list(scopes), Actor.system("cli"), rate)
        except ServiceError as err:
            raise click.ClickException(str(err)) from err
        click.echo(f"接口客户端已创建 / API client created: {issued.name}")
        click.echo(f"令牌（只显示一次）/ token (shown once): {issued.token}")

    @app.cli.command("rotate-api-client")
    @click.argument("name")
    def rotate_api_client(name: str) -> None:
        """Give a client a new token (the old one stops working at once); prints it once."""
        from services import api_clients

        try:
            issued = api_clients.rotate(_uow(), name, Actor.system("cli"))
        except ServiceError as err:
            raise click.ClickException(str(err)) from err
        click.echo(f"令牌（只显示一次）/ token (shown once): {issued.token}")

    @app.cli.command("revoke-api-client")
    @click.argument("name")
    def revoke_api_client(name: str) -> None:
        """Revoke a client's token at once."""
        from services import api_clients

        try:
            api_clients.revoke(_uow(), name, Actor.system("cli"))
        except ServiceError as err:
            raise click.ClickException(str(err)) from err
        click.echo(f"已吊销 / revoked: {name}")

    @app.cli.command("unlock-sign-in")
    @click.argument("username")
    @click.option("--address", help="Also lift the lock of this client address.")
    def unlock_sign_in(username: str, address: str | None) -> None:
        """Lift the sign-in locks of a user name (from every address) and, with --address, of an address."""
        cleared = signin.unlock(_uow(), username, Actor.system("cli"), address=address)
        click.echo(f"已解除登录限制 / sign-in unlocked: {username} ({cleared})")

    @app.cli.command("seed-demo")
    @click.option("--cases", "case_count", type=click.IntRange(min=1), default=None,
                  help="Also simulate N historical cases of all eleven matters (a simulated clock).")
    @click.option("--from", "period_start", type=click.DateTime(["%Y-%m-%d"]), default="2018-03-01",
                  show_default=True, help="First registration day of the simulated cases.")
    @click.option("--to", "period_end", type=click.DateTime(["%Y-%m-%d"]), default="2018-12-31",
                  show_default=True, help="Last day simulated: later steps stay open.")
    @click.option("--seed", "random_seed", type=int, default=2018, show_default=True,
                  help="The same seed, period and N on an empty database give the same cases.")
    def seed_demo(case_count, period_start, period_end, random_seed) -> None:
        """Units, demo users and the eleven matters (idempotent); with --cases, N simulated historical cases."""
        from app import workflows_dir

        made = demo.seed(_uow(), workflows_dir(current_app))
        click.echo(f"演示用户 / demo users created: {', '.join(made) or '-'}")
        if case_count is None:
            _seed_demo_cases()
            return
        from services.history import simulate

        if period_end < period_start:
            raise click.BadParameter("--to is before --from")
        simulate(_uow(), case_count, period_start.date(), period_end.date(), seed=random_seed,
                 log=lambda line: click.echo("  模拟案件 / simulated cases: " + line))

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    @click.option("--threads", default=8, type=int, help="Request threads per process.")
    @click.option("--workers", default=1, type=int, show_default=True,
                  help="Web processes: 1 serves with waitress; more with gunicorn (Linux), one per core.")
    @click.option("--access-log", is_flag=True, help="Log every request (with the serving process id) to stderr.")
    def serve(host: str, port: int, threads: int, workers: int, access_log: bool) -> None:
        """Prepare the database and demo data, then serve the web UI (waitress, or gunicorn with --workers)."""
        from app import workflows_dir

        upgrade(current_app.extensions["runonce.engine"])
        _migrate_files()
        demo.seed(_uow(), workflows_dir(current_app))
        _seed_demo_cases()
        url = f"http://{host}:{port}/"
        click.echo("只跑一次 Run-Once")
        click.echo(f"  数据库 / database: {current_app.config['DATABASE_URL']}")
        click.echo(f"  演示用户 / demo users (密码 / password: {demo.DEMO_PASSWORD}):")
        for username, display, unit, roles in demo.DEMO_USERS:
            click.echo(f"    {username:<12} {display:<14} {unit or '':<6} {','.join(roles)}")
        click.echo(f"  打开 / open: {url}")
        if workers > 1:
            from web.server import serve_with_gunicorn

            click.echo(f"  进程 / processes: {workers} × {threads} threads (gunicorn)")
            # The workers make their own app, database connections and engine pool after the fork; the demo
            # cases made above ran engine steps here, so this process's engine workers stop now.
            current_app.extensions["runonce.engine"].dispose()
            from engine.pool import shutdown

            shutdown()
            serve_with_gunicorn(host=host, port=port, workers=workers, threads=threads, access_log=access_log)
            return
        from web.server import serve_with_waitress

        app = current_app._get_current_object()
        if current_app.config.get("SCHEDULER_ENABLED"):
            from services.scheduler import ensure_started

            ensure_started(app)
        serve_with_waitress(app, host=host, port=port, threads=threads, access_log=access_log)

    @app.cli.command("scheduler")
    @click.option("--once", is_flag=True, help="Run every job once and exit (e.g. from cron).")
    @click.option("--lease-ttl", default=15.0, type=float, show_default=True,
                  help="Seconds before a silent scheduler's lease may be taken over.")
    def scheduler(once: bool, lease_ttl: float) -> None:
        """Run the scheduler (timers, deadline reminders, rollout check, e-mail) as its own process.

        Set SCHEDULER_ENABLED=0 for the web processes then; a database lease keeps one scheduler active."""
        import logging

        from app import SCHEMA_MESSAGES
        from services import clock
        from services.scheduler import run_standalone
        from storage.migrate import schema_state

        state = schema_state(current_app.extensions["runonce.engine"])
        if state != "current":  # every tick would fail: say what to do instead
            raise click.ClickException(SCHEMA_MESSAGES[state])
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        clock.install_from_env()
        click.echo("调度器已启动 / scheduler running" if not once else "调度任务执行一次 / running every job once")
        run_standalone(current_app.extensions["runonce.session_factory"], current_app.config, once=once,
                       lease_ttl=lease_ttl)
