package ingest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// photoRow is a photos row as ingest writes it. Each field is one column:
// its db tag names the column and its pg tag the column's type. The insert
// statement and its arguments are derived from these tags (photoWriter), so
// a new column is one field here.
type photoRow struct {
	DocumentID       int64           `db:"document_id" pg:"bigint"`
	SHA256           []byte          `db:"sha256" pg:"bytea"`
	Size             int64           `db:"size_bytes" pg:"bigint"`
	Mime             string          `db:"mime" pg:"text"`
	OriginalName     string          `db:"original_name" pg:"text"`
	StorageKey       string          `db:"storage_key" pg:"text"`
	Width            *int            `db:"width" pg:"integer"`
	Height           *int            `db:"height" pg:"integer"`
	TakenAt          *time.Time      `db:"taken_at" pg:"timestamptz"`
	TakenLocal       *time.Time      `db:"taken_local" pg:"timestamp"` // the wall clock; its zone is ignored
	UTCOffsetMinutes *int            `db:"utc_offset_minutes" pg:"integer"`
	TZSource         string          `db:"tz_source" pg:"text"`
	TZName           *string         `db:"tz_name" pg:"text"`
	CameraMake       *string         `db:"camera_make" pg:"text"`
	CameraModel      *string         `db:"camera_model" pg:"text"`
	Lens             *string         `db:"lens" pg:"text"`
	Orientation      *int            `db:"orientation" pg:"smallint"`
	Lat              *float64        `db:"lat" pg:"double precision"`
	Lon              *float64        `db:"lon" pg:"double precision"`
	AltM             *float64        `db:"alt_m" pg:"double precision"`
	ImgDirection     *float64        `db:"img_direction" pg:"double precision"`
	GPSRefMissing    bool            `db:"gps_ref_missing" pg:"boolean"`
	EXIF             json.RawMessage `db:"exif" pg:"jsonb"`
	EXIFError        *string         `db:"exif_error" pg:"text"`
}

// newPhotoRow is the photos row of a photo whose document is not written
// yet (DocumentID is set then).
func newPhotoRow(sum []byte, size int64, key, name string, m *Meta, taken Taken, hasTime bool) (photoRow, error) {
	exifJSON, err := json.Marshal(m.Tags)
	if err != nil {
		return photoRow{}, fmt.Errorf("ingest: exif json: %w", err)
	}
	r := photoRow{
		SHA256: sum, Size: size, Mime: m.Mime, OriginalName: cleanName(name), StorageKey: key,
		Width: positive(m.Width), Height: positive(m.Height), TZSource: TZUnknown,
		CameraMake: nonEmpty(m.Make), CameraModel: nonEmpty(m.Model), Lens: nonEmpty(m.Lens),
		Orientation: positive(m.DisplayOrientation()), Lat: m.Lat, Lon: m.Lon, AltM: m.AltM,
		ImgDirection: m.ImgDirection, GPSRefMissing: m.GPSRefMissing, EXIF: exifJSON,
		EXIFError: nonEmpty(m.EXIFError),
	}
	if hasTime {
		// The column holds whole seconds.
		local := taken.Local.Truncate(time.Second)
		r.TakenLocal, r.TakenAt = &local, taken.At
		r.UTCOffsetMinutes, r.TZSource, r.TZName = taken.OffsetMinutes, taken.Source, nonEmpty(taken.Zone)
	}
	return r, nil
}

// photoWriter inserts photoRows: one statement for any number of rows, over
// unnest of one typed array per column, so its text (and its prepared
// statement) is the same for every batch size.
type photoWriter struct {
	sql    string
	fields []reflect.StructField
}

// newPhotoWriter derives the insert statement from photoRow's tags.
func newPhotoWriter() *photoWriter {
	t := reflect.TypeFor[photoRow]()
	w := &photoWriter{}
	var cols, arrays []string
	for i := range t.NumField() {
		f := t.Field(i)
		cols = append(cols, f.Tag.Get("db"))
		arrays = append(arrays, fmt.Sprintf("$%d::%s[]", i+1, f.Tag.Get("pg")))
		w.fields = append(w.fields, f)
	}
	w.sql = "INSERT INTO photos (" + strings.Join(cols, ", ") + ")\nSELECT * FROM unnest(" + strings.Join(arrays, ", ") + ")"
	return w
}

// args are the statement's arguments for rows: one slice per column.
func (w *photoWriter) args(rows []photoRow) []any {
	out := make([]any, len(w.fields))
	for j, f := range w.fields {
		col := reflect.MakeSlice(reflect.SliceOf(f.Type), len(rows), len(rows))
		for i := range rows {
			col.Index(i).Set(reflect.ValueOf(&rows[i]).Elem().Field(j))
		}
		out[j] = col.Interface()
	}
	return out
}
