"""The chat's core, which the Gradio app (`ui/`) and the Dagster layer both use and which imports neither:
its records and access rules (`store.py`) and rated answers turned into evaluation tasks (`feedback.py`)."""

# Where a chat answer ends: a blank line, or a second citation marker in a row (a 135M model otherwise loops
# on `[1] [2] [1] ...`). The feedback tasks generate with the same stop.
STOP = ("\n\n", "] [", "][")

# A stored answer's origin (`Message.notes["answer"]`), and the answer when no source holds the question.
NOT_IN_SOURCES = "The sources do not contain the answer."
MODEL_SPAN = "the model's words, found in the cited sentence"
QUOTED = "quoted: the model's answer was not in the source"
NOT_FOUND = "not in sources: no retrieved sentence holds enough of the question"
ABOUT_IMAGE = "about the image: the model's answer, not checked against the sources"
