"""Deploying process definitions: immutable versions keyed by content hash.

A definition is a bundle: the matter's diagram plus the shared call activities it calls. Validation
(safe XML, XSD, sandbox compile of every script and expression, the engine's static bounds) and, for the
catalog's matters, the deploy gate (services/deploy_gate.py: data flow + the matter's scenarios) happen before
anything is written, so a rejected upload leaves the deployed version untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.definitions import CompiledProcess, compile_process, content_hash
from engine.expressions import BPMN_NS
from engine.xml_safety import load_xml
from services import audit_log, deploy_gate
from services.actors import Actor
from services.errors import N_, Conflict, NotFound
from services.uow import UnitOfWork
from storage.models import ProcessDefinition

SHARED_DIR_NAME = "shared"


@dataclass(frozen=True)
class Deployment:
    definition_id: int
    process_id: str
    version: int
    created: bool


def _as_bytes(files: dict[str, bytes | str]) -> dict[str, bytes]:
    return {name: data.encode("utf-8") if isinstance(data, str) else data for name, data in files.items()}


def deploy_bundle(
    uow: UnitOfWork,
    files: dict[str, bytes | str],
    main_file: str,
    actor: Actor,
    process_id: str | None = None,
    note: str | None = None,
    expected_version: int | None = None,
    override_reason: str | None = None,
) -> Deployment:
    """Validate and store a new version unless the same content is deployed already.

    Raises engine.errors.BpmnError (file, line, element id) when the bundle is rejected, and
    deploy_gate.DeployRefused (problems with their elements) when a catalog matter's version fails the gate.
    `override_reason` lets the data-flow findings (never the scenarios) pass; it is recorded on the audit event.

    `expected_version` guards an edit against a concurrent one: the version the designer started from (0 for a
    process that must not exist yet). When the latest deployed version of the process is another one, Conflict
    is raised and nothing is written — the edit is refused, never merged silently.
    """
    blobs = _as_bytes(files)
    digest, compiled = _compile(blobs, main_file, process_id)  # raises before anything is written
    overridden: list[deploy_gate.GateProblem] = []
    if not _deployed(uow, digest):  # the gate runs outside the write transaction; a stored version passed it
        overridden = deploy_gate.enforce(digest, blobs, main_file, compiled, override_reason)
    with uow:
        session = uow.session
        if expected_version is not None:
            _check_expected(session, compiled.process_id, expected_version)
        existing = session.execute(
            select(ProcessDefinition).where(ProcessDefinition.content_hash == digest)
        ).scalar_one_or_none()
        if existing is not None:
            return Deployment(existing.id, existing.process_id, existing.version, created=False)
        latest = _latest_version(session, compiled.process_id)
        definition = ProcessDefinition(
            process_id=compiled.process_id,
            version=(latest or 0) + 1,
            content_hash=digest,
            main_file=main_file,
            files={name: data.decode("utf-8") for name, data in blobs.items()},
            deployed_by=actor.username,
            note=note,
        )
        session.add(definition)
        try:
            session.flush()
        except IntegrityError:  # (process_id, version) is unique: a concurrent deploy took this number
            if expected_version is not None:
                session.rollback()
                _check_expected(session, compiled.process_id, expected_version)
            raise Conflict(N_("Someone deployed %(process_id)s at the same moment; try again."),
                           process_id=compiled.process_id) from None
        detail: dict = {}
        if overridden:
            detail["check_override"] = {
                "reason": (override_reason or "").strip(),
                "problems": [{"element_id": p.element_id, "file": p.filename, "message": p.message_zh}
                             for p in overridden],
            }
        audit_log.record(
            session, actor, "definition.deployed",
            after={"process_id": definition.process_id, "version": definition.version, "hash": digest,
                   "files": sorted(blobs)},
            **detail,
        )
        uow.commit()
        return Deployment(definition.id, definition.process_id, definition.version, created=True)


def _deployed(uow: UnitOfWork, digest: str) -> bool:
    with uow.reader() as r:
        return r.session.execute(
            select(ProcessDefinition.id).where(ProcessDefinition.content_hash == digest)
        ).first() is not None


def _latest_version(session: Session, process_id: str) -> int | None:
    return session.execute(
        select(func.max(ProcessDefinition.version)).where(ProcessDefinition.process_id == process_id)
    ).scalar()


def _check_expected(session: Session, process_id: str, expected_version: int) -> None:
    latest = _latest_version(session, process_id) or 0
    if latest == expected_version:
        return
    if expected_version == 0:
        raise Conflict(
            N_(
                "A process with the id %(process_id)s is deployed already (version %(latest)s). Open it from the "
                "list of versions to edit it, or give the new process another id; nothing was deployed."
            ),
            process_id=process_id,
            latest=latest,
        )
    raise Conflict(
        N_(
            "Someone deployed version %(latest)s of %(process_id)s after you opened it (you edited version "
            "%(base)s). Reload it and apply your change again; nothing was deployed."
        ),
        process_id=process_id,
        latest=latest,
        base=expected_version,
    )


def _compile(blobs: dict[str, bytes], main_file: str, process_id: str | None) -> tuple[str, CompiledProcess]:
    if process_id is None and main_file in blobs:
        process_id = _main_process_id(blobs[main_file], main_file)
    digest = content_hash(blobs)
    compiled = _COMPILED.get(digest) or compile_process(blobs, process_id)
    _COMPILED[digest] = compiled
    return digest, compiled


def check_bundle(files: dict[str, bytes | str], main_file: str, process_id: str | None = None) -> CompiledProcess:
    """Validate a bundle exactly as deploy_bundle would (safe XML, XSD, sandbox compile, the deploy gate),
    storing nothing.

    Raises engine.errors.BpmnError or deploy_gate.DeployRefused when it would be rejected.
    """
    blobs = _as_bytes(files)
    digest, compiled = _compile(blobs, main_file, process_id)
    deploy_gate.enforce(digest, blobs, main_file, compiled)
    return compiled


def main_process_id(data: bytes | str, filename: str) -> str | None:
    """The executable process a (main) diagram defines, when there is exactly one; None otherwise.

    Raises engine.errors.BpmnError when the file is not safe, well-formed XML."""
    return _main_process_id(data.encode("utf-8") if isinstance(data, str) else data, filename)


def edit_bundle(
    uow: UnitOfWork, process_id: str, base_version: int, main_xml: bytes | str
) -> tuple[dict[str, bytes], str]:
    """The files of a stored version with its main diagram replaced: (files, main file name).

    The shared call activities come from that version, not from disk, so an edit of one matter does not pick
    up unrelated changes to workflows/shared. Raises NotFound when the version does not exist.
    """
    with uow:
        definition = uow.session.execute(
            select(ProcessDefinition).where(
                ProcessDefinition.process_id == process_id, ProcessDefinition.version == base_version
            )
        ).scalar_one_or_none()
        if definition is None:
            raise NotFound(
                N_("Version %(version)s of %(process_id)s does not exist."), process_id=process_id, version=base_version
            )
        files = {name: text.encode("utf-8") for name, text in definition.files.items()}
        main_file = definition.main_file
    files[main_file] = main_xml.encode("utf-8") if isinstance(main_xml, str) else main_xml
    return files, main_file


def _main_process_id(data: bytes, filename: str) -> str | None:
    """The executable process defined in the main file, when there is exactly one: a bundle also holds the
    shared call activities, which are processes too."""
    tree = load_xml(data, filename)  # the safe loader; compile_process checks everything else
    ids = [p.get("id") for p in tree.getroot().iter(f"{{{BPMN_NS}}}process") if p.get("isExecutable") == "true"]
    return ids[0] if len(ids) == 1 else None


def bundle_for(diagram: Path) -> dict[str, bytes]:
    """A matter's diagram plus every shared call activity beside it (workflows/shared/*.bpmn)."""
    files = {diagram.name: diagram.read_bytes()}
    shared = diagram.parent / SHARED_DIR_NAME
    if shared.is_dir():
        for path in sorted(shared.glob("*.bpmn")):
            files[f"{SHARED_DIR_NAME}/{path.name}"] = path.read_bytes()
    return files


def deploy_directory(uow: UnitOfWork, directory: Path, actor: Actor) -> list[Deployment]:
    """Deploy every top-level diagram of a folder (each with the shared call activities)."""
    return [
        deploy_bundle(uow, bundle_for(path), path.name, actor)
        for path in sorted(directory.glob("*.bpmn"))
    ]


def current_definition(session: Session, process_id: str) -> ProcessDefinition:
    definition = session.execute(
        select(ProcessDefinition)
        .where(ProcessDefinition.process_id == process_id)
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    if definition is None:
        raise NotFound(N_("No deployed process definition for %(process_id)s."), process_id=process_id)
    return definition


_COMPILED: dict[str, CompiledProcess] = {}


def compiled(definition: ProcessDefinition) -> CompiledProcess:
    """Parsed spec of a stored version, parsed once per process: versions are immutable, so the content
    hash is a safe cache key."""
    hit = _COMPILED.get(definition.content_hash)
    if hit is None:
        files = {name: text.encode("utf-8") for name, text in definition.files.items()}
        hit = _COMPILED[definition.content_hash] = compile_process(files, definition.process_id)
    return hit
