"""The chat's core, which the Gradio app (`ui/`) and the Dagster layer both use and which imports neither:
its records and access rules (`store.py`) and rated answers turned into evaluation tasks (`feedback.py`)."""

STOP = ("\n\n",)  # where a chat answer ends; the feedback tasks generate with the same stop
