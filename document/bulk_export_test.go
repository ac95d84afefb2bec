package document

// BulkChunked is Bulk with chunks of at most chunkRows lines, so tests cross
// chunk boundaries with small loads.
var BulkChunked = bulk
