// Package embed turns text into vectors for geoseek's semantic search.
//
// An [Embedder] embeds a batch of texts into vectors of a fixed dimension. Two
// are built in:
//
//   - [Offline], the default: deterministic feature hashing of words, word
//     pairs and character n-grams after language-aware normalization. It needs
//     no model and no network, and it captures lexical and sub-word similarity
//     (shared words, stems, spellings, accents), NOT meaning: "car" and
//     "automobile" are unrelated to it.
//   - [OpenAI], a client for any server speaking the OpenAI embeddings wire
//     format (POST {base}/embeddings): OpenAI itself, Ollama (/v1), Hugging
//     Face TEI, vLLM and others. It batches, limits concurrency and request
//     rate, retries 429 and 5xx answers honouring Retry-After, and checks every
//     vector it gets back.
//
// Collections choose their embedder ([Spec]: embedder name, model, dimension,
// language); a [Set] hands out the embedder for a spec. Users may also send
// their own vectors; [Validate] checks them (dimension, NaN/Inf, zero length).
//
// Embeddings of stored documents are computed by River jobs ([EmbedArgs],
// [Worker]) enqueued when documents are written and by [Reembed], and by the
// periodic [Sweep] of documents still without a vector. A document the sweep
// cannot embed (a text the service refuses, or no text) is retried with
// exponential backoff ([RetryBackoff] doubling up to [MaxRetryBackoff]), and
// at the next sweep once its text changes. Changing a collection's dimension
// clears the vectors its embedder computed; the sweep recomputes them and
// then builds the collection's HNSW index (migrations/features/vector.sql).
//
// The package knows nothing of HTTP servers; its user-facing errors are the
// domain errors of internal/problem (validation -> 400, an embedding service
// that does not answer -> 503).
package embed
