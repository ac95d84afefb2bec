-- +goose Up
-- A photo has a whole position or none: a latitude without a longitude (or
-- the reverse) is not a place. Photos stored before the EXIF reader dropped
-- half positions lose theirs here, with the reason in exif_error, and the
-- constraint keeps every later write whole.
UPDATE photos
   SET exif_error = concat_ws('; ', NULLIF(exif_error, ''),
           CASE WHEN lat IS NULL THEN 'GPS position dropped: GPSLongitude without a usable GPSLatitude'
                ELSE 'GPS position dropped: GPSLatitude without a usable GPSLongitude' END),
       lat = NULL, lon = NULL
 WHERE (lat IS NULL) <> (lon IS NULL);
ALTER TABLE photos ADD CONSTRAINT photos_whole_position CHECK ((lat IS NULL) = (lon IS NULL));

-- +goose Down
ALTER TABLE photos DROP CONSTRAINT photos_whole_position;
