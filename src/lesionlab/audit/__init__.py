"""Label audit: which labelled images most likely carry a wrong label, and why (issue 16, item 7).

`audit_labels(features, labels, ...) -> AuditResult` works on arrays; `audit_records` (in
`audit.run`) embeds images first; `write_audit` writes the CSV and the HTML gallery for review.
"""

from lesionlab.audit.core import DEFAULT_WEIGHTS, SIGNALS, AuditResult, audit_labels, combine
from lesionlab.audit.metrics import precision_recall_at_k

__all__ = ["DEFAULT_WEIGHTS", "SIGNALS", "AuditResult", "audit_labels", "combine", "precision_recall_at_k"]
