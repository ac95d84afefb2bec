package geo

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
	"github.com/geoseek/geoseek/internal/problem"
)

// clusters serves /collections/{c}/clusters?bbox=&zoom= as a GeoJSON
// FeatureCollection of cluster points.
func (h *Handler) clusters(c *gin.Context) {
	bs := c.Query("bbox")
	if bs == "" {
		bs = "-180,-90,180,90"
	}
	bbox, err := ParseBBox("bbox", bs)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	zs := c.Query("zoom")
	zoom, convErr := strconv.Atoi(zs)
	if convErr != nil || zoom < 0 || zoom > MaxZoom {
		httpx.Respond(c, problem.Invalid("zoom", "an integer from 0 to %d is required", MaxZoom))
		return
	}
	col := c.Param("collection")
	res, err := h.svc.Clusters(c.Request.Context(), col, bbox, zoom)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	c.Data(http.StatusOK, GeoJSON, h.appendClusters(make([]byte, 0, 256+len(res.Clusters)*200), res, zoom, col == h.svc.opts.PhotosCollection))
}

// appendClusters writes res as a FeatureCollection; a cluster of one is its
// document (id and title), photos carry their thumbnail's path.
func (h *Handler) appendClusters(b []byte, res *ClusterResult, zoom int, photos bool) []byte {
	b = append(b, `{"type":"FeatureCollection","bbox":`...)
	b = appendFloats(b, res.BBox.MinX, res.BBox.MinY, res.BBox.MaxX, res.BBox.MaxY)
	b = append(b, `,"zoom":`...)
	b = strconv.AppendInt(b, int64(zoom), 10)
	b = append(b, `,"cellSize":`...)
	b = strconv.AppendFloat(b, res.CellSize, 'g', -1, 64)
	b = append(b, `,"features":[`...)
	for i, cl := range res.Clusters {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"Feature","id":`...)
		if cl.Count == 1 {
			b = strconv.AppendInt(b, cl.ID, 10)
		} else {
			b = appendJSONString(b, fmt.Sprintf("cluster/%d/%d/%d", zoom, int64(math.Floor(cl.X/res.CellSize)), int64(math.Floor(cl.Y/res.CellSize))))
		}
		b = append(b, `,"geometry":{"type":"Point","coordinates":`...)
		b = appendFloats(b, cl.X, cl.Y)
		b = append(b, `},"properties":{"count":`...)
		b = strconv.AppendInt(b, cl.Count, 10)
		b = append(b, `,"cluster":`...)
		b = strconv.AppendBool(b, cl.Count > 1)
		b = append(b, `,"representative_id":`...)
		b = strconv.AppendInt(b, cl.ID, 10)
		b = append(b, `,"extent":`...)
		b = appendFloats(b, cl.MinX, cl.MinY, cl.MaxX, cl.MaxY)
		if cl.Count == 1 {
			b = append(b, `,"title":`...)
			b = appendJSONString(b, cl.Title)
		}
		if photos {
			b = append(b, `,"thumbnail":`...)
			b = appendJSONString(b, fmt.Sprintf(h.svc.opts.ThumbnailPath, cl.ID))
		}
		b = append(b, "}}"...)
	}
	b = append(b, `],"numberReturned":`...)
	b = strconv.AppendInt(b, int64(len(res.Clusters)), 10)
	return append(b, "}\n"...)
}

func appendFloats(b []byte, fs ...float64) []byte {
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	return append(b, ']')
}
