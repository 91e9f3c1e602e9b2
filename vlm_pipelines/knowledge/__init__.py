"""Knowledge bases for the chat app: documents to sections (`documents`), chunks with page and heading path
(`chunking`), MiniLM embeddings (`embeddings`), the Chroma + BM25 index with hybrid search (`index`),
which bases exist (`bases`) and retrieval testing (`quality`). Plain Python: no Dagster, no Gradio."""
