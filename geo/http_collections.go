package geo

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/geoseek/geoseek/internal/httpx"
)

func (h *Handler) landing(c *gin.Context) {
	asHTML, err := wantsHTML(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.respondDoc(c, asHTML, h.svc.opts.Title, newLanding(h.base(c), h.svc.opts.Title, h.svc.opts.Description))
}

func (h *Handler) conformance(c *gin.Context) {
	asHTML, err := wantsHTML(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.respondDoc(c, asHTML, "Conformance", newConformance())
}

func (h *Handler) collections(c *gin.Context) {
	asHTML, err := wantsHTML(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	cols, err := h.svc.Collections(c.Request.Context())
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.respondDoc(c, asHTML, "Collections", newCollectionList(h.base(c), cols))
}

func (h *Handler) collection(c *gin.Context) {
	asHTML, err := wantsHTML(c)
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	col, err := h.svc.Collection(c.Request.Context(), c.Param("collection"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.respondDoc(c, asHTML, col.Title, newCollectionDoc(h.base(c), col))
}

func (h *Handler) queryables(c *gin.Context) {
	col, err := h.svc.Collection(c.Request.Context(), c.Param("collection"))
	if err != nil {
		httpx.Respond(c, err)
		return
	}
	h.writeJSON(c, http.StatusOK, SchemaJSON, newQueryables(h.base(c), col))
}
