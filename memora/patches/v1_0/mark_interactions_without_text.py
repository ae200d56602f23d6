"""Recall embeds interactions whose embedding_model is NULL. Rows stored before recall existed have
NULL whether or not they have text: those without text are marked '' (nothing to embed), so the
embedding job's work list holds only messages. `memora recall-backfill` embeds the rest."""

from memora import runtime
from memora.services.tables import INTERACTIONS

CHUNK = 10_000


def execute() -> None:
	database, marked = runtime.db(), 0
	while True:
		database.sql(
			f"update {INTERACTIONS} set embedding_model = '' "
			"where embedding_model is null and coalesce(content, '') = '' limit %s",
			(CHUNK,),
		)
		changed = database.sql("select row_count()")[0][0]
		database.commit()
		marked += changed
		if changed < CHUNK:
			break
	runtime.log("patch.interactions_without_text_marked", rows=marked)
