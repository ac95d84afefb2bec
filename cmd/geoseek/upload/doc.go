// Package upload is the bulk-upload client behind `geoseek upload`: it walks
// folders, keeps the files whose content is a media type the server stores,
// hashes them locally, asks the server which hashes it already holds
// (POST /photos/check) and sends only the others: small files as multipart
// POST /photos, large ones as resumable tus 1.0 uploads under /uploads/ whose
// URLs are remembered in a state file, so an interrupted upload, or a client
// that crashed, resumes from the server's offset when the same command runs
// again.
//
// It speaks HTTP only and imports no server code: a script's machine needs
// neither the database nor the data dir.
//
// Every file ends in exactly one Outcome; nothing is skipped silently.
// Transient failures (connection errors, 408, 429, 5xx) are retried with
// capped exponential backoff and full jitter, honouring Retry-After; other
// 4xx answers are final for that file. 401 and 403 stop the whole run
// (ErrServer): no later file would fare better.
package upload
