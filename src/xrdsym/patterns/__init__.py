"""Powder patterns: peak lists from structures and rendered profiles on a 2theta grid."""
