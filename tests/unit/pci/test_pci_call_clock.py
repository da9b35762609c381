"""A `skip` pause is read as the silence pause it would have been: the talk either side of its
point is that far apart, never one run of digits or one turn, and what is found before it stops
at the point. Its point is placed up to a second late, and the cut rules allow for that."""

from __future__ import annotations

import io

import soundfile
from spoken import heard_all, region, said

from flexrec.demo.card_data import non_card_silenced_ms, pause_cutting, tally_numbers
from flexrec.pci.call_clock import POINT_LATE_MS, CallClock
from flexrec.pci.cuts import cut_detections
from flexrec.pci.detect import CARD_NUMBER, SECURITY_CODE, Detection
from flexrec.pci.dialogue import answer_detections
from flexrec.pci.stage import CardDataStage
from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region
from flexsim import encode_audio, make_sample_conversation, render_recording, word_truth

CUSTOMER, AGENT = 1, 2
ELEVEN = "five one seven three four eight four six four three four"


def test_the_talk_either_side_of_a_skip_point_is_not_read_as_one() -> None:
    # Held-out seed 2000: the agent's pause cuts the reading after 13 digit words and resumes
    # after the code; with `skip` the file goes straight on to the agent's order number.
    plain = make_sample_conversation(2000, duration_s=110.0, card_pause="never")
    plain_truth = word_truth(plain.world, plain.customer_recording.sid)
    assert plain_truth is not None
    start_s, end_s, _ = pause_cutting(plain_truth, cut_after=13)
    sample = make_sample_conversation(
        2000, duration_s=110.0, card_pause="never", pause=(start_s, end_s, "skip")
    )
    truth = word_truth(sample.world, sample.customer_recording.sid)
    assert truth is not None
    wav = encode_audio(render_recording(sample.world, sample.customer_recording), "wav")
    point, skipped = int(start_s * 1000), int((end_s - start_s) * 1000)
    result = CardDataStage(None).process(wav, heard_all(truth), [(point, point, skipped)])
    kept, _ = soundfile.read(io.BytesIO(result.kept_wav), dtype="int16", always_2d=True)
    tally = tally_numbers(kept, truth)
    assert (tally.card_digit_words, tally.card_digits_audible) == (13, 0)
    # Read as one, the card's nearness reached the order number 12 s on in the file (38 s on
    # the call's clock), and the cut rule silenced the agent's words after the point.
    assert (tally.distractors, tally.distractors_silenced) == (2, 0)
    assert max(d.end_ms for d in result.detections) == point  # then only the 250 ms margin
    assert non_card_silenced_ms(truth, result.spans_ms) < 1500  # 6.4 s read as one


def test_the_call_clock_opens_each_point_and_puts_findings_back() -> None:
    clock = CallClock.of([(20_000, 30_000), (5_000, 1_000)])
    assert clock.file_pieces(40_000) == [(0, 5_000), (5_000, 20_000), (20_000, 40_000)]
    # a word goes to the side holding its middle
    words = clock.words(
        [Word("one", 4_000, 4_400), Word("two", 19_800, 20_100), Word("six", 19_900, 20_300)]
    )
    assert [(w.start_ms, w.end_ms) for w in words] == [
        (4_000, 4_400),
        (20_800, 21_000),
        (51_000, 51_300),
    ]
    # a region the file runs across a point is two turns
    assert clock.regions([Region(18_000, 22_000)]) == [
        Region(19_000, 21_000),
        Region(51_000, 53_000),
    ]
    assert clock.pauses([(25_000, 27_000)]) == [(5_000, 6_000), (21_000, 51_000), (56_000, 58_000)]
    assert clock.joins() == {5_000: POINT_LATE_MS, 21_000: POINT_LATE_MS}
    # back on the file: a time inside an opened pause is its point
    assert [clock.to_file(t) for t in (4_000, 5_500, 6_000, 30_000, 51_000, 60_000)] == [
        4_000,
        5_000,
        5_000,
        20_000,
        20_000,
        29_000,
    ]
    found = Detection(CARD_NUMBER, CUSTOMER, 15_000, 40_000, "luhn", 16)
    moved = clock.detection_to_file(found)
    assert (moved.start_ms, moved.end_ms) == (14_000, 20_000)


def test_a_reading_a_late_placed_join_cut_is_still_cut() -> None:
    # The events place the join up to a second late: the reading ran into the pause although
    # it ends 0.9 s before where the join is placed.
    reading = said(f"sure it is {ELEVEN}", 1000)
    at = reading[-1].end_ms + 900
    pause = (at, at + 30_000)
    speech = {CUSTOMER: [region(reading)]}
    assert cut_detections({CUSTOMER: reading}, speech, [pause]) == []  # a silence pause: not cut
    (found,) = cut_detections({CUSTOMER: reading}, speech, [pause], joins_ms={at: POINT_LATE_MS})
    assert (found.kind, found.digit_count) == (CARD_NUMBER, 11)
    assert found.end_ms >= at - POINT_LATE_MS
    # so is the answer to the card-number question that the late-placed join cut
    question = said("please read me the number on the front of the card", 1000)
    answer = said("it is before they will what but they", 6000)
    channels = {AGENT: question, CUSTOMER: answer}
    regions = {AGENT: [region(question)], CUSTOMER: [region(answer)]}
    at = answer[-1].end_ms + 900
    assert answer_detections(channels, regions, [], [(at, at + 30_000)]) == []
    (answer_found,) = answer_detections(
        channels, regions, [], [(at, at + 30_000)], {at: POINT_LATE_MS}
    )
    assert answer_found.rule == "answer_to_question"


def test_a_short_turn_after_a_join_is_silenced_from_where_the_resume_may_have_been() -> None:
    # An early resume lets in the rest of a code, heard as words; the events place the join up
    # to a second late, so the rest began up to a second before the point in the file.
    rest = said("but have", 40_000)  # "six six"
    join = rest[0].start_ms + 600  # placed late: the rest began 0.6 s before the point
    pause = (join, join + 30_000)  # the skip point, opened up by its paused time
    after = [Word(w.text, w.start_ms + 30_000, w.end_ms + 30_000) for w in rest]
    speech = {CUSTOMER: [Region(pause[1], after[-1].end_ms + 150)]}
    (found,) = cut_detections({CUSTOMER: after}, speech, [pause], joins_ms={join: POINT_LATE_MS})
    assert found.kind == SECURITY_CODE and found.start_ms == join - POINT_LATE_MS
    # after a silence pause the resume is exact: from the resume
    (exact,) = cut_detections({CUSTOMER: after}, speech, [pause])
    assert exact.start_ms == pause[1]


def test_a_join_its_requests_bound_closely_reaches_back_only_that_far() -> None:
    # The create's and the pause's round trips put the join at most 200 ms late: a reading
    # that ended 0.9 s before it was finished before the pause, as after a silence pause.
    reading = said(f"sure it is {ELEVEN}", 1000)
    at = reading[-1].end_ms + 900
    pause = (at, at + 30_000)
    speech = {CUSTOMER: [region(reading)]}
    assert cut_detections({CUSTOMER: reading}, speech, [pause], joins_ms={at: 200}) == []
    # one that ran up to 0.4 s before it ran into the pause
    at = reading[-1].end_ms + 400
    pause = (at, at + 30_000)
    (found,) = cut_detections({CUSTOMER: reading}, speech, [pause], joins_ms={at: 200})
    assert (found.kind, found.digit_count) == (CARD_NUMBER, 11)
    # and the short turn after a resume is silenced from 200 ms before the join, not a second
    rest = said("but have", 40_000)
    join = rest[0].start_ms + 150
    pause = (join, join + 30_000)
    after = [Word(w.text, w.start_ms + 30_000, w.end_ms + 30_000) for w in rest]
    speech = {CUSTOMER: [Region(pause[1], after[-1].end_ms + 150)]}
    (code,) = cut_detections({CUSTOMER: after}, speech, [pause], joins_ms={join: 200})
    assert code.kind == SECURITY_CODE and code.start_ms == join - 200


def test_the_stage_reads_each_points_own_bound() -> None:
    clock = CallClock.of([(20_000, 30_000), (5_000, 1_000)], {20_000: 250})
    assert clock.joins() == {5_000: POINT_LATE_MS, 21_000: 250}
    # a point with its bound: an answer ending 0.9 s before it was not cut by the pause
    question = said("please read me the number on the front of the card", 1000)
    answer = said("it is before they will what but they", 6000)
    channels = {AGENT: question, CUSTOMER: answer}
    regions = {AGENT: [region(question)], CUSTOMER: [region(answer)]}
    at = answer[-1].end_ms + 900
    assert answer_detections(channels, regions, [], [(at, at + 30_000)], {at: 250}) == []
