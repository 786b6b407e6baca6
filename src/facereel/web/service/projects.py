"""Projects and their items: lookup, the JSON a client sees, edits, order."""

from __future__ import annotations

import time

from facereel.web.errors import Conflict, NotFound
from facereel.web.jobs import public_job
from facereel.web.storage import ID_RE, new_id

#: flags that make the grid say "recommended to remove" (and leave the photo out by default)
RECOMMEND_FLAGS = frozenset({"other_person", "duplicate", "no_face", "face_too_small", "unreadable"})


def effective_age(item: dict) -> tuple[float | None, str | None]:
    """(age, where it comes from) used for the order: the photo's date (EXIF) when known, then the
    age the user entered, then the estimate."""
    for source, key in (("date", "age_dated"), ("user", "age_user"), ("estimate", "age_estimated")):
        value = item.get(key)
        if value is not None:
            return float(value), source
    return None, None


def item_state(item: dict) -> str:
    if item["analyzed"]:
        return "done"
    return "failed" if item.get("error") else "pending"


class ProjectsMixin:
    # --- projects ------------------------------------------------------------------------
    def create_project(self, name: str = "", legacy: bool = False) -> dict:
        if legacy:
            self.expire_legacy()
        pid = new_id()
        self.data.make_project_dirs(pid)
        return self.db.create_project(pid, name, legacy)

    def expire_legacy(self) -> None:
        """The seed's endpoints make a hidden project per call: delete those older than the TTL."""
        cutoff = time.time() - self.cfg.legacy_ttl_hours * 3600
        for pid in self.db.legacy_projects_before(cutoff):
            if not self.db.active_jobs(pid):
                self.delete_project(pid)

    def get_project(self, pid: str) -> dict:
        p = self.db.get_project(pid) if ID_RE.match(pid or "") else None
        if p is None:
            raise NotFound("no such project")
        return p

    def get_item(self, pid: str, iid: str) -> dict:
        self.get_project(pid)
        item = self.db.get_item(iid) if ID_RE.match(iid or "") else None
        if item is None or item["project_id"] != pid:
            raise NotFound("no such item")
        return item

    def delete_project(self, pid: str) -> None:
        for jid in self.jobs.cancel_project(pid):
            self.jobs.wait(jid, timeout=10)
        self.db.delete_project(pid)
        self.data.remove_project(pid)

    def public_project(self, pid: str) -> dict:
        p = self.get_project(pid)
        items = self.db.items(pid)
        return {"id": p["id"], "name": p["name"], "created": p["created"], "manual_order": p["manual_order"],
                "order": self.order_summary(items, p["manual_order"]),
                "items": [self.public_item(i) for i in items],
                "jobs": [public_job(j) for j in self.db.jobs(pid)][:50]}

    # --- items ---------------------------------------------------------------------------
    def public_item(self, item: dict) -> dict:
        age, source = effective_age(item)
        pid, iid = item["project_id"], item["id"]
        excluded_by = None
        if item["excluded"]:
            excluded_by = "user" if item.get("excluded_set") else "recommendation"
        return {
            "id": iid, "filename": item["filename"], "position": item["position"],
            "age": None if age is None else round(age, 1), "age_source": source,
            "age_estimated": None if item["age_estimated"] is None else round(float(item["age_estimated"]), 1),
            "age_user": item["age_user"], "flags": item["flags"], "recommended_remove": item["recommended_remove"],
            "excluded": item["excluded"], "excluded_by": excluded_by, "analyzed": item["analyzed"],
            "state": item_state(item), "error": item["error"], "exif_date": item["exif_date"],
            "source_url": item["source_url"],
            "thumb_url": f"/api/projects/{pid}/items/{iid}/thumb" if item["thumb_name"] else None,
            "photo_url": f"/api/projects/{pid}/items/{iid}/photo",
        }

    @staticmethod
    def order_summary(items: list[dict], manual: bool) -> dict:
        """How the sequence is ordered, for the page to say: by hand, or by date/age with the
        count of photos placed by each source."""
        counts = {"date": 0, "user": 0, "estimate": 0}
        for it in items:
            _, source = effective_age(it)
            if source is not None:
                counts[source] += 1
        return {"by": "hand" if manual else ("date" if counts["date"] else "age"), "sources": counts}

    def patch_item(self, pid: str, iid: str, patch) -> dict:
        """``age`` (re-sorts unless the order was set by hand), ``reset_age``, ``excluded``,
        ``position`` (moves it; the order becomes manual)."""
        item = self.get_item(pid, iid)
        fields: dict = {}
        if patch.reset_age:
            fields["age_user"] = None
        elif patch.age is not None:
            fields["age_user"] = float(patch.age)
        if patch.excluded is not None:
            fields.update(excluded=bool(patch.excluded), excluded_set=True)
        self.db.update_item(iid, **fields)
        if patch.position is not None:
            ids = [i["id"] for i in self.db.items(pid) if i["id"] != iid]
            ids.insert(min(patch.position, len(ids)), iid)
            self.db.set_positions(ids)
            self.db.set_manual_order(pid, True)
        elif "age_user" in fields and not self.db.get_project(pid)["manual_order"]:
            self.resort(pid)
        return self.public_item(self.db.get_item(item["id"]))

    def resort(self, pid: str) -> None:
        """Orders the items by :func:`effective_age` (those without one last, by arrival)."""
        def key(it):
            age, _ = effective_age(it)
            return (age is None, age if age is not None else 0.0, it["position"])

        self.db.set_positions([it["id"] for it in sorted(self.db.items(pid), key=key)])

    def sort_by_age(self, pid: str) -> list[dict]:
        self.get_project(pid)
        self.db.set_manual_order(pid, False)
        self.resort(pid)
        return [self.public_item(i) for i in self.db.items(pid)]

    def thumb_file(self, pid: str, iid: str):
        p = self.data.servable(self.data.thumb_path(self.get_item(pid, iid)))
        if p is None:
            raise NotFound("no aligned face for this photo")
        return p

    def photo_file(self, pid: str, iid: str):
        p = self.data.servable(self.data.photo_path(self.get_item(pid, iid)))
        if p is None:
            raise NotFound("photo missing")
        return p

    # --- jobs ----------------------------------------------------------------------------
    def get_job(self, jid: str) -> dict:
        job = self.jobs.get(jid) if ID_RE.match(jid or "") else None
        if job is None:
            raise NotFound("no such job")
        return job

    def cancel_job(self, jid: str) -> dict:
        job = self.get_job(jid)
        if not self.jobs.cancel(jid):
            raise Conflict(f"the job is {job['status']}, not running")
        return public_job(self.jobs.get(jid))
