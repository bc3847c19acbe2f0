"""The declarative description of each element: children, order, kinds and rules.

Reader, writer and checker all walk these tables, so there is one statement of the
standard's structure: the canonical child order is the order of a table, and what a
lenient reader tolerates and a strict one refuses is stated once, per child.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["DSIG_NS", "NS", "Child", "Kind", "Need", "Rule"]

#: The edXML namespace of QCVN 102:2016.
NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
#: The XML-DSig namespace, where a standard Signature lives.
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


class Kind(enum.Enum):
    """How an element's content maps to a Python value."""

    TEXT = "text"  #: NFC text
    INT = "int"  #: a decimal integer
    BOOL = "bool"  #: true/false or 1/0
    DATE = "date"  #: yyyy/MM/dd
    TIMESTAMP = "timestamp"  #: yyyy/MM/dd HH:mm:ss, Vietnam time
    MODEL = "model"  #: a nested element described by its own table
    RAW = "raw"  #: an element of undocumented structure, kept verbatim


class Need(enum.Enum):
    """Whether a child must be present."""

    OPTIONAL = "optional"  #: may be absent
    STRICT = "strict"  #: absent is an error in strict mode, a warning in lenient mode
    ALWAYS = "always"  #: absent is an error in both modes (nothing sensible can be done)


class Rule(enum.Enum):
    """Value checks beyond the type; an error in strict mode, a warning in lenient mode."""

    #: An OrganId the message's issuer writes of itself or chooses (From, To): four levels.
    ORGAN_ID = "organ_id"
    #: The issuer's own DocumentId: ``OrganId,yyyy/MM/dd,Number/Notation``.
    DOCUMENT_ID = "document_id"
    #: Another organisation's code echoed back (ResponseFor, TraceHeader, receivers): a code
    #: of another scheme is kept with a warning in every mode, only non-codes are deviations.
    ORGAN_REF = "organ_ref"
    #: Another organisation's DocumentId echoed back: kept as sent with a warning when it is
    #: not of the standard's form (the sender matches replies on it).
    DOCUMENT_REF = "document_ref"
    DIGITS = "digits"  #: a numeric code kept as the peer wrote it
    PRIORITY = "priority"  #: 0-4
    BUSINESS_TYPE = "business_type"  #: 0-3
    ZERO_ONE = "zero_one"  #: 0 or 1
    STATUS_CODE = "status_code"  #: two digits
    NON_NEGATIVE = "non_negative"  #: a count: 0 or more


@dataclass(frozen=True, slots=True)
class Child:
    """One child element of a model: its tag, the model field and the rules for it."""

    tag: str
    field: str
    kind: Kind = Kind.TEXT
    model: type | None = None  #: the nested model class when kind is MODEL
    many: bool = False
    wrapper: str | None = None  #: list items sit inside this element (ToPlaces/Place)
    aliases: tuple[str, ...] = ()  #: other spellings a reader accepts (Business)
    need: Need = Need.OPTIONAL
    max_len: int | None = None
    rule: Rule | None = None

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag a reader accepts for this child, the canonical one first."""
        return (self.wrapper or self.tag, *self.aliases)
