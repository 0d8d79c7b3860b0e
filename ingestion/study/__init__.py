"""Study ingestion, the pure part: dictionary, column types, validation, typed reading, entities.

Entry point: :func:`validate_study` (``vxp.ingestion.study``) returns a :class:`StudyPlan`;
land it only when ``plan.ok``; stream each dataset with :meth:`DatasetPlan.batches`.
"""

from .dictionary import DatasetSpec, Dictionary, Variable, load_dictionary
from .entities import DEFAULT_ENTITIES, Entity, StudyConfig, load_config
from .plan import DatasetPlan, StudyPlan, validate_study
from .types import ColumnType, TypeChange, iceberg_type_change, parse_type, type_change

__all__ = [
    "DEFAULT_ENTITIES",
    "ColumnType",
    "DatasetPlan",
    "DatasetSpec",
    "Dictionary",
    "Entity",
    "StudyConfig",
    "StudyPlan",
    "TypeChange",
    "Variable",
    "iceberg_type_change",
    "load_config",
    "load_dictionary",
    "parse_type",
    "type_change",
    "validate_study",
]
