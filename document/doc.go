// Package document is the domain of collections and documents: the one owner
// of their SQL, their validation and the cache of collections, and the one
// write path for documents. The documents API, GeoJSON writes and photo ingest
// all call these functions, so validation, language defaults, geometry and
// embedding handling are the same everywhere.
//
// Functions take a Querier so callers choose the transaction: photo ingest
// writes the document and its photo row in one.
//
// The other domains read collections through it, not with their own SQL:
// Collections is geoseek's one cache of collections (Get, at most
// CollectionTTL old; Load and List read afresh; Forget drops a deleted or
// changed collection, which geo's change listener calls when the
// collection's notification arrives), LookupCollection reads a
// collection's current settings in one cheap statement,
// EmbeddingCollectionIDs (or QueueEmbeddingCollections, inside a caller's
// batch) lists the collections the embedding jobs serve, EmbeddingInputs
// reads documents with their collections' embedding settings, and
// GetForUpdate reads and locks a document for a read-modify-write.
// internal/floors' TestCollectionsSQLOnlyInDocument keeps collections SQL
// here.
// Collection is the one collection type, with the statistics geo keeps
// (extent, period, property keys, size) when Collections reads it.
package document
