"""REST request bodies, reusing pyiceberg's models for schemas, updates and requirements.

Reusing pyiceberg's discriminated unions means an unknown update or requirement type is rejected
while parsing, which the spec requires to be a 400.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import SortOrder
from pyiceberg.table.update import (
    AddSchemaUpdate,
    AssignUUIDUpdate,
    RemovePropertiesUpdate,
    SetLocationUpdate,
    SetPropertiesUpdate,
    TableRequirement,
    TableUpdate,
    UpgradeFormatVersionUpdate,
)
from pyiceberg.view.metadata import ViewVersion


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="wrap")
    @classmethod
    def _parse_errors_are_invalid(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Without this a malformed body would be a 500, not a 400: pyiceberg's validators raise
        # TypeError, KeyError, … on nonsense input (a default value for a map, an unknown type
        # name), and pydantic only turns ValueError into a validation error.
        _check_encodable(data)
        try:
            return handler(data)
        except (TypeError, LookupError, AttributeError, ArithmeticError, NotImplementedError) as e:
            raise ValueError(f"{type(e).__name__}: {e}") from e


def _check_encodable(data: Any) -> None:
    """Reject lone surrogates (JSON allows ``"\\ud800"``): no name, property or response holding
    one can be encoded as UTF-8, so it would fail far from the request that sent it.

    Iterative, as JSON nested as deep as the parser allows must not exhaust the stack here.
    """
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            value.encode()  # UnicodeEncodeError is a ValueError: pydantic reports it as invalid
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


class CreateNamespaceRequest(_Body):
    """The REST spec's ``CreateNamespaceRequest``."""

    namespace: list[str]
    properties: dict[str, str] = Field(default_factory=dict)


class UpdateNamespacePropertiesRequest(_Body):
    """The REST spec's ``UpdateNamespacePropertiesRequest``; ``removals`` may not repeat a key."""

    removals: list[str] = Field(default_factory=list)
    updates: dict[str, str] = Field(default_factory=dict)

    @field_validator("removals")
    @classmethod
    def _unique(cls, removals: list[str]) -> list[str]:
        # the spec's uniqueItems: a repeated key would be reported twice as "removed"/"missing"
        if len(set(removals)) != len(removals):
            raise ValueError("removals must not repeat a key")
        return removals


class TableIdentifier(_Body):
    """The REST spec's ``TableIdentifier``: a namespace's levels and a name."""

    namespace: list[str]
    name: str


class CreateTableRequest(_Body):
    """The REST spec's ``CreateTableRequest`` (schema, spec and order as pyiceberg models)."""

    name: str
    location: str | None = None
    table_schema: Schema = Field(alias="schema")
    partition_spec: PartitionSpec | None = Field(default=None, alias="partition-spec")
    write_order: SortOrder | None = Field(default=None, alias="write-order")
    stage_create: bool = Field(default=False, alias="stage-create")
    properties: dict[str, str] = Field(default_factory=dict)


class RegisterTableRequest(_Body):
    """The REST spec's ``RegisterTableRequest``."""

    name: str
    metadata_location: str = Field(alias="metadata-location")
    overwrite: bool = False


class CommitTableRequest(_Body):
    """The REST spec's ``CommitTableRequest``: requirements and updates, both required."""

    identifier: TableIdentifier | None = None
    # required by the spec: a body without them is malformed, not an empty commit
    requirements: list[TableRequirement]
    updates: list[TableUpdate]


class CommitTransactionRequest(_Body):
    """The REST spec's ``CommitTransactionRequest``: one ``CommitTableRequest`` per table."""

    table_changes: list[CommitTableRequest] = Field(alias="table-changes")


class RenameTableRequest(_Body):
    """The REST spec's ``RenameTableRequest``, used for tables and views alike."""

    source: TableIdentifier
    destination: TableIdentifier


class ReportMetricsRequest(_Body):
    """A JSON object naming its report type, which is all the spec requires of every report.

    Reports are discarded, so the rest is not parsed: a client's report is never refused over
    a detail nothing reads.
    """

    report_type: str = Field(alias="report-type")


# --- views: the spec's view requests, whose update union is a subset of the table one's plus
# two view-only updates; pyiceberg has the models of their parts but not these unions


class AddViewVersionUpdate(_Body):
    """The REST spec's ``AddViewVersionUpdate``."""

    action: Literal["add-view-version"]
    view_version: ViewVersion = Field(alias="view-version")


class SetCurrentViewVersionUpdate(_Body):
    """The REST spec's ``SetCurrentViewVersionUpdate`` (``-1``: the version added last)."""

    action: Literal["set-current-view-version"]
    # -1 selects the version added last in the same commit
    view_version_id: int = Field(alias="view-version-id")


ViewUpdate = Annotated[
    AssignUUIDUpdate
    | UpgradeFormatVersionUpdate
    | AddSchemaUpdate
    | SetLocationUpdate
    | SetPropertiesUpdate
    | RemovePropertiesUpdate
    | AddViewVersionUpdate
    | SetCurrentViewVersionUpdate,
    Field(discriminator="action"),
]


class AssertViewUUID(_Body):
    """The REST spec's ``AssertViewUUID``, the one requirement a view commit takes."""

    type: Literal["assert-view-uuid"]
    uuid: str


class CommitViewRequest(_Body):
    """The REST spec's ``CommitViewRequest``."""

    identifier: TableIdentifier | None = None
    requirements: list[AssertViewUUID] = Field(default_factory=list)
    updates: list[ViewUpdate] = Field(default_factory=list)


class CreateViewRequest(_Body):
    """The REST spec's ``CreateViewRequest``."""

    name: str
    location: str | None = None
    view_schema: Schema = Field(alias="schema")
    view_version: ViewVersion = Field(alias="view-version")
    properties: dict[str, str] = Field(default_factory=dict)


class RegisterViewRequest(_Body):
    """The REST spec's ``RegisterViewRequest``."""

    name: str
    metadata_location: str = Field(alias="metadata-location")
