//! Fuzz target bodies for kipc, as plain functions so corpora replay on stable.
