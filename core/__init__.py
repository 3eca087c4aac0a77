"""Small shared pieces every app may import: domain errors and the audit-event base."""
