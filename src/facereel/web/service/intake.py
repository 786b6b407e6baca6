"""Photo intake: validated files become items (the project limit holds under concurrency)."""

from __future__ import annotations

from facereel.core.atomic import write_bytes
from facereel.web.errors import Rejected
from facereel.web.storage import new_id, safe_filename
from facereel.web.uploads import UploadError, validate_image


class IntakeMixin:
    def store_image(self, pid: str, img, filename: str, source_url: str | None = None) -> dict | None:
        """Writes the photo and adds its item; None when the project is full (nothing kept)."""
        iid = new_id()
        stored_name = iid + img.ext
        path = self.data.pdir(pid) / "photos" / stored_name
        write_bytes(path, img.data)
        item = self.db.add_item({
            "id": iid, "project_id": pid, "filename": safe_filename(filename), "stored_name": stored_name,
            "sha256": img.sha256, "source_url": source_url, "width": img.width, "height": img.height,
            "exif_date": img.exif_date.isoformat() if img.exif_date else None, "storage_name": new_id() + ".jpg",
        }, limit=self.cfg.max_items_per_project)
        if item is None:
            path.unlink(missing_ok=True)
        return item

    def accept_uploads(self, pid: str, files) -> tuple[list[dict], list[dict]]:
        """(accepted items, rejected ``{filename, error, status}``).  A file already in the
        project whose analysis failed or never ran counts as accepted (it is analysed again)."""
        accepted, rejected = [], []
        limit = self.cfg.max_items_per_project
        for name, data in files:
            try:
                if isinstance(data, UploadError):
                    raise data
                img = validate_image(data, max_bytes=self.cfg.max_upload_bytes, max_pixels=self.cfg.max_pixels,
                                     filename=name)
                with self.lock("intake", pid):   # the duplicate check and the insert are one step
                    known = self.db.item_by_sha(pid, img.sha256)
                    stuck = known is not None and not known["analyzed"] and (
                        known["error"] or not self.db.active_jobs(pid, "analyze"))
                    if stuck:
                        self.db.update_item(known["id"], error=None)
                        accepted.append(known)
                        continue
                    if known is not None:
                        raise UploadError(f"{name}: this file is already in the project", 409)
                    item = self.store_image(pid, img, name)
                if item is None:
                    raise UploadError(f"{name}: the project already holds {limit} photos", 409)
                accepted.append(item)
            except UploadError as exc:
                rejected.append({"filename": safe_filename(name), "error": str(exc), "status": exc.status})
        return accepted, rejected

    @staticmethod
    def refuse(rejected: list[dict]) -> Rejected:
        """The error for an upload where no file was accepted."""
        status = rejected[0]["status"] if len({r["status"] for r in rejected}) == 1 else 422
        detail = rejected[0]["error"] if len(rejected) == 1 else "; ".join(r["error"] for r in rejected[:5])
        return Rejected(detail, status, rejected)
