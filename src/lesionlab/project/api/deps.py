"""FastAPI dependencies: the open project, the caller (set by `TokenAuth`) and role checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lesionlab.project.exceptions import Forbidden
from lesionlab.project.people import Caller
from lesionlab.project.project import Project


def get_project(request: Request) -> Project:
    return request.app.state.project


def get_caller(request: Request) -> Caller:
    return request.state.caller


def needs(role: str):
    """A dependency giving the caller if their role includes `role`, else Forbidden naming the role."""

    def check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if not caller.may(role):
            raise Forbidden(f"this needs the {role} role; {caller.name} is {caller.role}")
        return caller

    return check


ProjectDep = Annotated[Project, Depends(get_project)]
Anyone = Annotated[Caller, Depends(get_caller)]
Reviewer = Annotated[Caller, Depends(needs("reviewer"))]
Admin = Annotated[Caller, Depends(needs("admin"))]
