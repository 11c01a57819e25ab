"""``yibao serve``: the app under uvicorn; the URL is printed once the socket accepts connections."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from yibao.contract.errors import BadOption
from yibao.engine.workspace import DB_FILE
from yibao.server.app import Settings, create_app
from yibao.server.jobs import Jobs
from yibao.store.db import open_store, safe_url


class _Server(uvicorn.Server):
    """Prints the URL (stdout, one line) right after the listening socket is up."""

    url: str = ""

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            host = self.config.host
            port = self.config.port
            if self.servers and self.servers[0].sockets:
                port = self.servers[0].sockets[0].getsockname()[1]
            shown = f"[{host}]" if ":" in host else host
            self.url = f"http://{shown}:{port}"
            print(self.url, flush=True)


def serve(workspace: Path, store_url: str | None = None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Open (and migrate) the store, then serve until interrupted."""
    workspace = Path(workspace)
    if not workspace.is_dir():
        raise BadOption(f"{workspace}：工作区目录不存在（先运行 yibao load 或 yibao users add）")
    if not 0 <= port <= 65535:
        raise BadOption(f"端口 {port} 无效（0–65535）")
    store = open_store(workspace, store_url)
    if not (workspace / DB_FILE).exists():
        print(f"注意：{workspace} 尚未装载数据（缺少 {DB_FILE}），病例接口将返回 404", file=sys.stderr)
    print(f"记录库：{safe_url(store.url)}", file=sys.stderr)
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"  # stdout carries only the URL
    app = create_app(Settings(store=store, workspace=workspace))
    app.state.jobs = Jobs(store)  # at start: the open jobs of a server that is gone become interrupted (中断)
    config = uvicorn.Config(app, host=host, port=port,
                            log_config=log_config, log_level="info", proxy_headers=False)
    server = _Server(config)
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind
        pass
    finally:
        app.state.jobs.close()  # its queued and running jobs: interrupted, in the store too
        store.close()
    if not server.started:
        raise BadOption(f"无法在 {host}:{port} 上启动服务（端口被占用或地址不可用）")
