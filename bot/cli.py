"""The ``kefu`` command line: knowledge-base import/export/search, retrieval evaluation, staff
accounts, the stack, and the KPI report."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

from bot.database import upgrade_database
from bot.settings import Settings, get_settings
from db.engine import DatabaseUnavailable, create_engine_for, ensure_reachable, session_factory
from kb.importer import (
    ImportRefusedError,
    ImportReport,
    ImportSourceError,
    export_jsonl,
    import_path,
)
from kb.store import ArticleStore
from retrieval.bands import BandThresholds, load_thresholds, save_thresholds
from retrieval.calibration import Calibration
from retrieval.calibration import calibrate as calibrate_bands
from retrieval.encoders import AUTO, ENCODER_NAMES, get_encoder, resolve_encoder
from retrieval.evaluation import (
    EvalQuery,
    EvaluationReport,
    QueryFileError,
    calibrate,
    evaluate,
    read_queries,
    run_queries,
)
from retrieval.index_store import open_index, save_index
from retrieval.retriever import Progress, Retriever, SearchMode, SearchResult

app = typer.Typer(help="Kefu (客服): a bilingual customer-service assistant.", no_args_is_help=True)
kb_app = typer.Typer(help="Manage and search the knowledge base.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure retrieval quality.", no_args_is_help=True)
stack_app = typer.Typer(help="Run the whole system on this machine.", no_args_is_help=True)
users_app = typer.Typer(
    help="Staff accounts (agents, editors, supervisors, admins).", no_args_is_help=True
)
app.add_typer(users_app, name="users")
app.add_typer(kb_app, name="kb")
app.add_typer(eval_app, name="eval")
app.add_typer(stack_app, name="stack")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@contextmanager
def _progress_bar(description: str, unit: str = "passage") -> Iterator[Progress]:
    """A progress bar on stderr, created on the first update so idle work prints nothing."""
    bar: tqdm | None = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=description, unit=unit, file=sys.stderr, leave=False)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


@contextmanager
def _store(database_url: str) -> Iterator[ArticleStore]:
    upgrade_database(database_url)
    engine = create_engine_for(database_url)
    try:
        with session_factory(engine)() as session:
            yield ArticleStore(session)
    finally:
        engine.dispose()


@contextmanager
def _import_refusals() -> Iterator[None]:
    """An import that cannot be read, or whose translation links do not hold, as ``error:``
    lines on stderr and exit code 2 (nothing was imported), not a traceback."""
    try:
        yield
    except ImportRefusedError as error:
        for problem in error.problems:
            typer.secho(f"error: {problem}", fg=typer.colors.RED, err=True)
        raise _fail("the import is refused; nothing was imported") from error
    except (OSError, ImportSourceError) as error:
        raise _fail(str(error)) from error


def _import_with_progress(path: Path, store: ArticleStore) -> ImportReport:
    with _progress_bar("importing", unit="article") as progress:
        return import_path(path, store, progress=progress)


def _print_import_report(report: ImportReport, err: bool = False) -> None:
    for entry in report.rejected:
        typer.secho(f"rejected {entry.location}: {entry.reason}", fg=typer.colors.YELLOW, err=True)
    counts = report.counts()
    typer.echo(", ".join(f"{n} {outcome}" for outcome, n in counts.items()), err=err)


def _open_retriever(store: ArticleStore, encoder: str, index_dir: Path) -> Retriever:
    encoder = resolve_encoder(encoder, (a.language for a in store.published()))
    with _progress_bar("indexing") as progress:
        opened = open_index(index_dir, get_encoder(encoder), store.published, progress)
    if opened.source != "loaded" or opened.sync.changed:
        typer.echo(
            f"index {opened.source}; {len(opened.sync.added)} added, "
            f"{len(opened.sync.updated)} updated, {len(opened.sync.removed)} removed",
            err=True,
        )
    return opened.retriever


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    fd: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Also serve this inherited listening socket, which several workers share (the "
            "kernel hands each connection to one of them): `kefu stack up --workers N`",
        ),
    ] = None,
) -> None:
    """Run the web service alone (the API, the chat gateway, the widget and its demo page)."""
    import socket

    import uvicorn

    from bot.api.main import create_app
    from tracing.logs import json_log_config

    settings = get_settings()
    try:  # before anything else: no service without its database
        ensure_reachable(settings.database_url)
    except DatabaseUnavailable as error:
        raise _fail(str(error), 1) from None
    # KEFU_LOG_FORMAT=json: every line one JSON object with its request id; text is uvicorn's.
    logging: dict[str, Any] = (
        {"log_config": json_log_config()} if settings.log_format == "json" else {}
    )
    # X-Forwarded-For/-Proto are believed from the configured proxies only; uvicorn's default
    # (127.0.0.1, or $FORWARDED_ALLOW_IPS) would let a local client pick the address it is
    # throttled by (bot/auth/throttle.py).
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies,
        # A WebSocket frame is a chat message: bounded like a request body (uvicorn's default
        # is 16 MiB, read into memory whole).
        ws_max_size=settings.max_body_bytes,
        **logging,
    )
    server = uvicorn.Server(config)
    if fd is None:
        server.run()
        return
    # A worker of several: its own address (the stack's health checks, tests that pick a
    # worker) and the shared public one.
    own = socket.create_server((host, port), backlog=config.backlog)
    server.run(sockets=[own, socket.socket(fileno=fd)])


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Login name")],
    role: Annotated[str, typer.Option(help="agent, editor, supervisor or admin")],
    name: Annotated[str, typer.Option(help="Shown to customers and colleagues")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a member of staff; the password is asked for (or read from stdin), never an
    argument, so it stays out of shell history."""
    from bot.auth.store import UserError, UserStore

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = get_settings()
    upgrade_database(settings.database_url)
    engine = create_engine_for(settings.database_url)
    try:
        with session_factory(engine)() as session:
            user = UserStore(session).create(email, name or email, role, password)
    except UserError as error:
        raise _fail(str(error)) from error
    finally:
        engine.dispose()
    typer.echo(f"created {user.role} {user.email} (id {user.id})")


DEMO_PASSWORD = "kefu-demo-password"
DEMO_USERS = (
    ("agent@demo.kefu", "Demo Agent", "agent"),
    ("editor@demo.kefu", "Demo Editor", "editor"),
    ("supervisor@demo.kefu", "Demo Supervisor", "supervisor"),
)


@users_app.command("demo")
def users_demo() -> None:
    """Demo logins for the consoles (development only; existing ones are left alone)."""
    from bot.auth.store import UserError, UserStore

    settings = get_settings()
    if settings.environment == "production":
        raise _fail("demo users are for development; use `kefu users create` in production")
    upgrade_database(settings.database_url)
    engine = create_engine_for(settings.database_url)
    try:
        with session_factory(engine)() as session:
            store = UserStore(session)
            for email, name, role in DEMO_USERS:
                with contextlib.suppress(UserError):  # there already
                    store.create(email, name, role, DEMO_PASSWORD)
    finally:
        engine.dispose()
    for email, _, role in DEMO_USERS:
        typer.echo(f"demo {role} login: {email} / {DEMO_PASSWORD}")


@stack_app.command("up")
def stack_up(
    port: Annotated[int, typer.Option(min=1, max=65535, help="The service's port")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=16,
            help="Service processes sharing --port (each also on a port of its own, the ones "
            "after --port); more than 1 needs REDIS_URL (docs/scaling.md)",
        ),
    ] = 1,
    rasa_port: Annotated[
        int, typer.Option(min=1, max=65535, help="The first Rasa's port; the others follow it")
    ] = 5005,
    rasa_workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=8,
            help="Rasa processes over one tracker store, sharing the conversations: when one "
            "dies another takes over at once (each holds the model: about 1 GB); with REDIS_URL "
            "each has an action server",
        ),
    ] = 2,
    actions_port: Annotated[int, typer.Option(min=1, max=65535)] = 5055,
    model: Annotated[
        Path | None, typer.Option(help="Trained Rasa model [default: models/kefu.tar.gz]")
    ] = None,
    var_dir: Annotated[
        Path | None,
        typer.Option(help="State folder: databases, index, logs [default: KEFU_VAR_DIR, var/]"),
    ] = None,
) -> None:
    """Start Rasa, the action server and the service; wait until all are healthy; keep them
    up (one that dies starts again, alone, after a backoff; one that keeps dying stops them all,
    exit code 1); Ctrl-C stops them all."""
    import logging
    import signal

    from bot.stack import Stack, StackError, StackPorts, Supervisor, stack_config

    # The project's var/ (or KEFU_VAR_DIR, or --var-dir), wherever the command runs from.
    settings = get_settings()
    if var_dir is not None:
        settings = Settings(var_dir=var_dir)
    if workers > 1 and not settings.redis_url:
        raise _fail(
            f"--workers {workers} needs REDIS_URL: the workers share the customers' sockets, "
            "the agents' presence, login throttling and article changes through Redis, and "
            "Rasa's lock store is there (docs/scaling.md). Set REDIS_URL=redis://HOST:6379/0, "
            "or run one worker."
        )
    rasa_ports = list(range(rasa_port, rasa_port + rasa_workers))
    worker_ports = list(range(port + 1, port + 1 + workers)) if workers > 1 else []
    taken = [port, actions_port, *rasa_ports, *worker_ports]
    if len(set(taken)) < len(taken) or max(taken) > 65535:
        raise _fail(
            f"the ports overlap: service {port}"
            + (f" (workers {', '.join(map(str, worker_ports))})" if worker_ports else "")
            + f", action server {actions_port}, Rasa {', '.join(map(str, rasa_ports))} "
            f"(--rasa-port and the {rasa_workers - 1} after it)"
        )
    config = stack_config(
        settings,
        StackPorts(
            service=port,
            rasa=rasa_port,
            actions=actions_port,
            more_rasa=tuple(rasa_ports[1:]),
            service_workers=tuple(worker_ports),
        ),
        model.resolve() if model is not None else None,
        # At scale, an action server per Rasa (on one shared port); one otherwise, as before.
        actions_workers=rasa_workers if settings.redis_url else 1,
    )
    # SIGTERM (from a process manager or `kill`) stops the stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # The supervisor's lines among the processes' output; its logger alone, as httpx's request
    # lines would show Rasa's token.
    supervisor_output = logging.StreamHandler(sys.stdout)
    supervisor_output.setFormatter(logging.Formatter("   stack | %(levelname)s %(message)s"))
    logging.getLogger("bot.stack").addHandler(supervisor_output)
    logging.getLogger("bot.stack").setLevel(logging.INFO)
    try:
        with Stack(config) as stack:
            url = config.service_url
            typer.secho("\nKefu is up.", fg=typer.colors.GREEN, bold=True)
            typer.echo(f"  Demo store with the chat widget:  {url}/")
            typer.echo(f"  Agent console:                    {url}/agent")
            typer.echo(f"  Editor console:                   {url}/editor")
            typer.echo(f"  Health:                           {url}/api/v1/health")
            typer.echo(f"  OpenAPI document:                 {url}/openapi.json")
            if config.workers > 1:
                typer.echo(f"  Service workers (own ports):      {', '.join(config.worker_urls)}")
            typer.echo(f"  Rasa (loopback only):             {', '.join(config.rasa_urls)}")
            typer.echo(f"  Action server (loopback only):    {config.actions_url}")
            typer.echo(f"  Logs:                             {stack.log_dir}")
            typer.echo("Ctrl-C stops everything.\n")
            Supervisor(stack).run()
    except KeyboardInterrupt:
        typer.echo("\nstopped")
    except StackError as error:
        raise _fail(str(error), code=1) from error


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise _fail(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from error


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


@app.command("report")
def report_command(
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (in --tz)")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, included (default: today)")] = None,
    tz: Annotated[str | None, typer.Option(help="IANA time zone (KEFU_REPORT_TIMEZONE)")] = None,
    language: Annotated[str | None, typer.Option(help="en or zh")] = None,
    channel: Annotated[str | None, typer.Option(help="widget or email")] = None,
    agent_id: Annotated[int | None, typer.Option(min=1, help="Handled by this agent")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object on stdout (the API's summary)")
    ] = False,
) -> None:
    """The KPIs of a period against the previous one (docs/reports.md), from the reports'
    module: a table, or with --json the summary as GET /api/v1/reports/summary gives it."""
    from bot.analytics.kpis import report
    from bot.analytics.report_range import ReportRange, ReportRangeError
    from db.base import utcnow

    settings = get_settings()
    try:
        period = ReportRange.of(
            _parse_day(since, "--since"),
            _parse_day(until, "--until"),
            tz or settings.report_timezone,
            language=language,
            channel=channel,
            agent_id=agent_id,
        )
    except ReportRangeError as error:
        raise _fail(str(error)) from error
    upgrade_database(settings.database_url)
    engine = create_engine_for(settings.database_url)
    try:
        with session_factory(engine)() as session:
            found = report(session, period, settings.first_response_target_s, utcnow())
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(found), ensure_ascii=False, default=str))
        return
    typer.echo(
        f"{found.range['since']} – {found.range['until']} ({found.range['tz']}), "
        f"against {found.previous['since']} – {found.previous['until']}"
    )
    typer.echo(f"{'kpi':28} {'value':>10} {'previous':>10}  unit")
    for name, kpi in found.kpis.items():
        typer.echo(f"{name:28} {_cell(kpi.value):>10} {_cell(kpi.previous):>10}  {kpi.unit}")
    typer.echo(f"\n{'channel':10} {'conversations':>13} {'contained':>10} {'escalated':>10} csat")
    for row in found.tables["channels"]:
        csat = f"{_cell(row.csat_mean)} ({row.csat_count})"
        typer.echo(
            f"{row.channel:10} {row.conversations:>13} {row.contained:>10} {row.escalated:>10} "
            f"{csat}"
        )


@kb_app.command("import")
def kb_import(
    path: Annotated[Path, typer.Argument(help="A .jsonl file or a folder of Markdown files")],
    author: Annotated[str, typer.Option(help="Recorded as the author of new versions")] = "import",
) -> None:
    """Import (upsert by id) articles, then bring the search index up to date."""
    settings = get_settings()
    if not path.exists():
        raise _fail(f"{path}: no such file or folder")
    with _store(settings.database_url) as store:
        with _import_refusals():
            report = _import_with_progress(path, store)
        _print_import_report(report)
        _open_retriever(store, settings.encoder, settings.index_dir)
    if report.rejected:
        raise typer.Exit(1)


@kb_app.command("export")
def kb_export(path: Annotated[Path, typer.Argument(help="Where to write the JSONL file")]) -> None:
    """Write every article (latest version) as JSON Lines, the import format."""
    settings = get_settings()
    with _store(settings.database_url) as store:
        count = export_jsonl(path, store)
    typer.echo(f"exported {count} articles to {path}")


@kb_app.command("reindex")
def kb_reindex() -> None:
    """Rebuild the search index from the database's published articles."""
    settings = get_settings()
    with _store(settings.database_url) as store:
        encoder = resolve_encoder(settings.encoder, (a.language for a in store.published()))
        retriever = Retriever(get_encoder(encoder), _thresholds(encoder))
        with _progress_bar("indexing") as progress:
            retriever.sync(store.published(), progress)
        save_index(retriever, settings.index_dir)
    typer.echo(
        f"indexed {retriever.passage_count} passages of {len(retriever.article_versions)} articles"
    )


def _thresholds(encoder: str) -> BandThresholds:
    return load_thresholds(encoder)


def _print_result(result: SearchResult) -> None:
    typer.echo(f"band: {result.band.value}   language: {result.language}")
    if not result.hits:
        typer.echo("no matching articles")
    for rank, hit in enumerate(result.hits, start=1):
        typer.echo(
            f"{rank}. {hit.article_id} (v{hit.version}, {hit.language})  score {hit.score:.3f}"
            f"  [dense {hit.dense_score:.3f}, lexical {hit.lexical_score:.3f}]"
        )
        typer.echo(f"   {hit.title}")
        typer.echo(f"   matched {hit.matched.kind}: {hit.matched.text[:120]}")


@kb_app.command("search")
def kb_search(
    question: Annotated[str, typer.Argument(help="A customer question, Chinese or English")],
    k: Annotated[int, typer.Option("--k", min=1, max=50, help="How many articles")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    mode: Annotated[SearchMode, typer.Option(help="Ranking signals")] = SearchMode.HYBRID,
) -> None:
    """Ranked articles with score, confidence band, matched passage and version."""
    if not question.strip():
        raise _fail("the question is empty")
    settings = get_settings()
    with _store(settings.database_url) as store:
        retriever = _open_retriever(store, settings.encoder, settings.index_dir)
        result = retriever.search(question, k=k, mode=mode)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_result(result)


def _throwaway_retriever(
    kb_path: Path, encoder: str, self_calibrate: bool = True
) -> tuple[Retriever, Calibration | None]:
    """A knowledge base and index built from a file in a temporary folder, then discarded;
    with the bands self-calibrated on it exactly as the service does with its own."""
    with tempfile.TemporaryDirectory(prefix="kefu-eval-") as folder:
        with _store(f"sqlite:///{folder}/eval.db") as store:
            with _import_refusals():
                report = import_path(kb_path, store)
            if report.rejected:
                _print_import_report(report, err=True)
            articles = store.published()
        if not articles:
            raise _fail(f"{kb_path}: no published articles to evaluate against")
        encoder = resolve_encoder(encoder, (a.language for a in articles))
        retriever = Retriever(get_encoder(encoder), _thresholds(encoder))
        with _progress_bar("indexing") as progress:
            retriever.upsert(articles, progress)
    if not self_calibrate:
        return retriever, None
    with _progress_bar("calibrating", unit="question") as progress:
        calibration = calibrate_bands(retriever, _thresholds(encoder), progress=progress)
    retriever.thresholds = calibration.bands
    return retriever, calibration


def _print_report(report: EvaluationReport) -> None:
    h, b = report.hybrid, report.bm25_baseline
    typer.echo(
        f"queries: {report.queries} ({report.answerable} answerable, "
        f"{report.unanswerable} unanswerable)"
    )
    typer.echo(f"{'':22}{'top-1':>8}{'recall@3':>10}{'MRR':>8}")
    typer.echo(f"{'hybrid':22}{h.top1:>8.3f}{h.recall_at_3:>10.3f}{h.mrr:>8.3f}")
    typer.echo(f"{'BM25 baseline':22}{b.top1:>8.3f}{b.recall_at_3:>10.3f}{b.mrr:>8.3f}")
    for language, m in report.by_language.items():
        typer.echo(
            f"{'hybrid, ' + language + ' queries':22}{m.top1:>8.3f}"
            f"{m.recall_at_3:>10.3f}{m.mrr:>8.3f}"
        )
    typer.echo(
        f"answerable in band answer: {report.answer_band_share:.3f} "
        f"(top-1 accuracy within it {report.answer_band_accuracy:.3f})"
    )
    typer.echo(
        f"unanswerable kept out of band answer: {report.unanswerable_kept_out:.3f} "
        f"(in band none: {report.unanswerable_in_none:.3f})"
    )
    typer.echo(f"latency p50 {report.latency_p50_ms:.2f} ms, p99 {report.latency_p99_ms:.2f} ms")
    t = report.thresholds
    typer.echo(f"thresholds: answer >= {t['high']}, clarify >= {t['low']} ({t['calibrated_on']})")


def _evaluation_inputs(encoder: str | None, queries: Path) -> tuple[str, list[EvalQuery]]:
    """The encoder to evaluate (the configured one by default) and the parsed query file."""
    encoder = encoder or get_settings().encoder
    if encoder not in (*ENCODER_NAMES, AUTO):
        raise _fail(
            f"unknown encoder {encoder!r}; choose one of: {', '.join((AUTO, *ENCODER_NAMES))}"
        )
    try:
        return encoder, read_queries(queries)
    except QueryFileError as error:
        raise _fail(str(error)) from error


KbOption = Annotated[Path, typer.Option("--kb", exists=True, dir_okay=True, help="Articles")]
QueriesOption = Annotated[Path, typer.Option("--queries", exists=True, dir_okay=False)]


@eval_app.command("retrieval")
def eval_retrieval(
    kb: KbOption,
    queries: QueriesOption,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    encoder: Annotated[str | None, typer.Option(help="Encoder to evaluate")] = None,
) -> None:
    """Evaluate retrieval on a throw-away copy of a knowledge base (never the main database)."""
    encoder, query_list = _evaluation_inputs(encoder, queries)
    retriever, calibration = _throwaway_retriever(kb, encoder)
    report = evaluate(retriever, query_list)
    if as_json:
        output = report.to_dict() | {"calibration": calibration.to_dict() if calibration else None}
        typer.echo(json.dumps(output, ensure_ascii=False, indent=2))
    else:
        _print_report(report)
        if calibration is not None:
            typer.echo(
                f"calibration: {calibration.reason}; expected precision in band answer "
                f"{calibration.expected_precision:.3f}, answered {calibration.answered_share:.3f}"
            )


@eval_app.command("calibrate")
def eval_calibrate(
    kb: KbOption,
    queries: QueriesOption,
    encoder: Annotated[str | None, typer.Option()] = None,
    precision: Annotated[float, typer.Option(min=0.5, max=1.0)] = 0.9,
    write: Annotated[bool, typer.Option(help="Store them in retrieval/thresholds.json")] = False,
) -> None:
    """Choose the shipped band thresholds from a (dev) query set: the fallback for a
    knowledge base too small to calibrate itself."""
    encoder, query_list = _evaluation_inputs(encoder, queries)
    retriever, _ = _throwaway_retriever(kb, encoder, self_calibrate=False)
    outcomes, _ = run_queries(retriever, query_list)
    thresholds = calibrate(outcomes, encoder, f"{queries.name}, precision {precision}", precision)
    typer.echo(f"{encoder}: answer >= {thresholds.high}, clarify >= {thresholds.low}")
    if write:
        save_thresholds(thresholds)
        typer.echo("written to retrieval/thresholds.json")


if __name__ == "__main__":
    app()
