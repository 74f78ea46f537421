"""The arithmetic: frames and arrays in, frames and arrays out; no file is read or written.
Targets (:mod:`.targets`, :mod:`.presets`, :mod:`.snapshots`), time to target
(:mod:`.time_to_target`), performance profiles and score B (:mod:`.profiles`), bootstrap
intervals (:mod:`.bootstrap`), quality at the budget (:mod:`.quality`), prompt sensitivity
(:mod:`.prompt`), rule sets (:mod:`.rules`)."""
