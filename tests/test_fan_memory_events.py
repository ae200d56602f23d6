"""Interaction events: every bad input is refused naming its field; good input comes out normalised."""

from datetime import datetime, timezone

import pytest

from memora.exceptions import MemoryServiceError, MemoryServiceException, ValidationError
from memora.services.fan_memory import events

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0


def event(**overrides) -> dict:
	return {"fan_id": "fan-1", "creator_id": "creator-1", "type": "like", **overrides}


@pytest.mark.parametrize(
	("bad", "field"),
	[
		(event(fan_id=""), "fan_id"),
		(event(fan_id=None), "fan_id"),
		(event(fan_id="x" * 141), "fan_id"),
		(event(fan_id="fän"), "fan_id"),
		(event(creator_id="a b"), "creator_id"),
		(event(creator_id="a\nb"), "creator_id"),
		(event(type="poke"), "type"),
		(event(type=None), "type"),
		(event(type="message"), "content"),
		(event(type="message", content="   "), "content"),
		(event(type="message", content="x" * 20_001), "content"),
		(event(content="hello"), "content"),
		(event(type="message", content="half an emoji \ud83d"), "content"),
		(event(type="purchase"), "amount"),
		(event(type="purchase", amount=0), "amount"),
		(event(type="tip", amount=-5), "amount"),
		(event(type="tip", amount=float("nan")), "amount"),
		(event(type="tip", amount=float("inf")), "amount"),
		(event(type="tip", amount="ten"), "amount"),
		(event(type="tip", amount=True), "amount"),
		(event(type="tip", amount=1e12), "amount"),
		(event(amount=5), "amount"),
		(event(timestamp="yesterday"), "timestamp"),
		(event(timestamp=NOW + 3600), "timestamp"),
		(event(timestamp=float("nan")), "timestamp"),
		(event(timestamp=[]), "timestamp"),
		(event(metadata=[1, 2]), "metadata"),
		(event(metadata={"x": float("nan")}), "metadata"),
		(event(metadata={"x": object()}), "metadata"),
		(event(metadata={"x": "y" * 20_000}), "metadata"),
		(event(event_id="has space"), "event_id"),
		(event(ammount=5), "ammount"),
		("not an event", "event"),
	],
)
def test_bad_input_is_refused_naming_the_field(bad, field):
	with pytest.raises(MemoryServiceException) as caught:
		events.parse(bad, NOW)
	assert caught.value.type is MemoryServiceError.VALIDATION_ERROR
	assert isinstance(caught.value, ValidationError) and caught.value.field == field


def test_good_input_is_normalised():
	parsed = events.parse(
		event(
			type="purchase",
			amount="19.99",
			timestamp="2027-01-15T08:00:00Z",
			metadata={"productId": "prod-789"},
			event_id="evt-1",
		),
		NOW,
	)
	assert parsed.amount == 19.99 and parsed.event_id == "evt-1"
	assert parsed.ts == datetime(2027, 1, 15, 8, tzinfo=timezone.utc).timestamp()
	assert parsed.metadata == {"productId": "prod-789"} and parsed.content is None


def test_missing_timestamp_and_event_id_are_filled_in():
	first, second = events.parse(event(), NOW), events.parse(event(), NOW)
	assert first.ts == NOW
	assert first.event_id and first.event_id != second.event_id


def test_timestamps_in_every_accepted_form_agree():
	ts = NOW - 3600
	naive_utc = datetime.fromtimestamp(ts, tz=timezone.utc).replace(tzinfo=None)
	forms = [ts, int(ts), str(ts), naive_utc, naive_utc.isoformat(), naive_utc.isoformat() + "Z"]
	assert {events.parse(event(timestamp=form), NOW).ts for form in forms} == {ts}


def test_bulk_fan_ids_are_checked_and_deduplicated():
	assert events.fan_ids(["a", "b", "a"]) == (["a", "b"], {})
	with pytest.raises(ValidationError):
		events.fan_ids("a,b")
	with pytest.raises(ValidationError):
		events.fan_ids([f"f{i}" for i in range(events.MAX_BULK_FANS + 1)])


def test_a_bad_bulk_id_is_refused_alone():
	valid, refused = events.fan_ids(["ok", "", "a b", "fän", "ok"])
	assert valid == ["ok"]
	assert sorted(refused) == ["", "a b", "fän"]
	assert {e.field for e in refused.values()} == {"fan_ids"}


def test_the_typescript_services_events_are_taken_as_it_sent_them():
	"""camelCase ids, a JavaScript Date as JSON (milliseconds, Z) or as Date.now(), amount 0 on a like."""
	ts = NOW - 60
	iso = (
		datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
	)
	for timestamp in (iso, ts * 1000, str(int(ts * 1000))):
		parsed = events.parse(
			{"fanId": "fan-1", "creatorId": "creator-1", "type": "like", "amount": 0, "timestamp": timestamp},
			NOW,
		)
		assert (parsed.fan_id, parsed.creator_id, parsed.ts, parsed.amount) == (
			"fan-1",
			"creator-1",
			ts,
			None,
		)
