"""Reading: files -> frames. Experiment trees (:mod:`.logs`), the official runner's text
logs (:mod:`.textlogs`), reference trees and hardware files (:mod:`.references`), tables of
times to target (:mod:`.times_table`). Nothing here scores."""
