"""Who is acting: the service layer's view of a signed-in user (no Flask objects cross this line)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from storage.models import Unit, User


@dataclass(frozen=True)
class Actor:
    username: str
    user_id: int | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    unit_code: str | None = None
    # BPMN lanes are named by the Chinese unit name; an actor works the lanes of their unit.
    lanes: frozenset[str] = field(default_factory=frozenset)
    # as signed on forms and documents; read with the user, so commands need not look it up again
    display_name: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(username=name, roles=frozenset({"system"}))

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def works_lane(self, lane: str | None) -> bool:
        return lane is None or lane in self.lanes or self.has_role("admin", "system")

    def has_task_role(self, role: str | None) -> bool:
        """A task may name a role its worker needs within the lane (property "role", e.g. lead: the window
        lead approves a second 补正 notice)."""
        return role is None or self.has_role(role, "admin", "system")

    def can_work(self, lane: str | None, role: str | None = None) -> bool:
        return self.works_lane(lane) and self.has_task_role(role)


def actor_for(session: Session, user: User) -> Actor:
    lanes: frozenset[str] = frozenset()
    if user.unit_code:
        unit = session.get(Unit, user.unit_code)
        if unit is not None:
            lanes = frozenset({unit.name_zh})
    return Actor(
        username=user.username,
        user_id=user.id,
        roles=frozenset(user.role_names),
        unit_code=user.unit_code,
        lanes=lanes,
        display_name=user.display_name,
    )
