"""Role-play practice: scenarios, the dialogue engine, technique detection, scoring and storage."""
