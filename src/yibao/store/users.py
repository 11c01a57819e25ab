"""Users, roles and logins (用户与角色): argon2 password hashes, failed-login limits.

Roles (角色): ``admin`` 系统管理员, ``agency`` 经办, ``supervisor`` 监管, ``hospital`` 医疗机构
(one institution), ``auditor`` 审计 (read only). What each may do is decided by the server
(:mod:`yibao.server.access`); the store keeps who is who.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update

from yibao.contract.errors import BadOption
from yibao.store import audit
from yibao.store.db import Store, now_iso
from yibao.store.schema import login_attempts, users

ROLES = {"admin": "系统管理员", "agency": "经办", "supervisor": "监管", "hospital": "医疗机构", "auditor": "审计"}
USERNAME = re.compile(r"^[\w.@-]{1,64}$")


@dataclass(frozen=True)
class LoginPolicy:
    """Failed-login limits and session lengths, declared once.

    Source: GB/T 22239-2019 (网络安全等级保护基本要求) 8.1.4.1 b — 应具有登录失败处理功能，应配置并启用
    结束会话、限制非法登录次数和当登录连接超时自动退出等相关措施. The numbers are this project's defaults.
    """

    max_failures: int = 5        # consecutive failed logins of one name before it is locked
    lock_minutes: int = 15       # how long the name stays locked
    token_hours: int = 8         # lifetime of an API bearer token
    session_hours: int = 8       # lifetime of a page session cookie


LOGIN_POLICY = LoginPolicy()

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("yibao-no-such-user")  # verified for unknown names: same time as a real check


@dataclass(frozen=True)
class User:
    username: str
    role: str
    institution_id: str | None


class LoginRefused(Exception):
    """A refused login: ``code`` is ``bad_credentials`` or ``account_locked``; ``message`` Chinese."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def add_user(store: Store, username: str, role: str, password: str, institution_id: str | None = None,
             *, actor: str = "", client: str = "cli") -> User:
    if not USERNAME.match(username or ""):
        raise BadOption(f"用户名 {username!r} 不可用：1–64 个字母、数字或 _ . @ -")
    if role not in ROLES:
        raise BadOption(f"未知角色 {role}（可选：{'、'.join(ROLES)}）")
    if role == "hospital" and not institution_id:
        raise BadOption("hospital 角色需要 --institution 机构编码")
    if role != "hospital" and institution_id:
        raise BadOption(f"只有 hospital 角色属于某一机构，{role} 角色不接受 --institution")
    if not password:
        raise BadOption("密码为空：请在标准输入的第一行给出密码")
    hashed = _hasher.hash(password)
    with store.begin() as con:
        if con.execute(select(users.c.user_id).where(users.c.username == username)).first():
            raise BadOption(f"用户 {username} 已存在")
        con.execute(users.insert().values(username=username, role=role, institution_id=institution_id,
                                          password_hash=hashed, created_at=now_iso(), disabled=0))
        audit.append(con, actor=actor, role="cli", action="user.add", object=f"user:{username}", client=client,
                     detail={"role": role, "institution_id": institution_id})
    return User(username, role, institution_id)


def get_user(store: Store, username: str) -> User | None:
    with store.begin() as con:
        row = con.execute(select(users.c.username, users.c.role, users.c.institution_id)
                          .where(users.c.username == username, users.c.disabled == 0)).first()
    return User(*row) if row else None


def authenticate(store: Store, username: str, password: str, *, client: str = "",
                 policy: LoginPolicy = LOGIN_POLICY) -> User:
    """The user, or :class:`LoginRefused`; every attempt is an audit entry whose actor is the name tried."""
    now = datetime.now(timezone.utc)
    username = (username or "")[:64]
    with store.begin() as con:
        att = con.execute(select(login_attempts).where(login_attempts.c.username == username)).mappings().first()
        if att and att["locked_until"] and datetime.fromisoformat(att["locked_until"]) > now:
            audit.append(con, actor=username, role="", action="login.failure", object=f"user:{username}",
                         client=client, detail={"reason": "account_locked", "locked_until": att["locked_until"]})
            refused = LoginRefused("account_locked", f"登录失败次数过多，该用户已锁定至 "
                                   f"{datetime.fromisoformat(att['locked_until']).astimezone().strftime('%H:%M')}，请稍后再试")
        else:
            row = con.execute(select(users).where(users.c.username == username, users.c.disabled == 0)) \
                .mappings().first()
            ok = _check(row["password_hash"] if row else _DUMMY_HASH, password or "") and row is not None
            if ok:
                if att:
                    con.execute(delete(login_attempts).where(login_attempts.c.username == username))
                if _hasher.check_needs_rehash(row["password_hash"]):
                    con.execute(update(users).where(users.c.username == username)
                                .values(password_hash=_hasher.hash(password)))
                audit.append(con, actor=username, role=row["role"], action="login.success",
                             object=f"user:{username}", client=client)
                return User(row["username"], row["role"], row["institution_id"])
            failures = (att["failures"] if att and not att["locked_until"] else 0) + 1
            locked = (now + timedelta(minutes=policy.lock_minutes)).isoformat(timespec="microseconds") \
                if failures >= policy.max_failures else None
            values = {"failures": 0 if locked else failures, "locked_until": locked,
                      "first_failure_at": now.isoformat(timespec="microseconds")}
            if att:
                con.execute(update(login_attempts).where(login_attempts.c.username == username).values(**values))
            else:
                con.execute(login_attempts.insert().values(username=username, **values))
            audit.append(con, actor=username, role="", action="login.failure", object=f"user:{username}",
                         client=client, detail={"reason": "bad_credentials", "failures": failures,
                                                "locked_until": locked})
            refused = LoginRefused("bad_credentials", "用户名或密码错误")
    raise refused


def _check(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
