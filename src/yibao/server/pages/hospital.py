"""stub"""
from fastapi import APIRouter

from yibao.server.pages.core import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)
