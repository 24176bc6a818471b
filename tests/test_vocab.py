from __future__ import annotations

import pytest

from sembridge.errors import SembridgeError
from sembridge.vocab import (
    CanonicalToken,
    MatchOptions,
    canonical_form,
    check_regular_tokens,
    detect_scheme,
    find_overlap,
    is_candidate_source,
    regular_tokens,
    special_roles,
    vocab_tokens,
)
from tests.helpers import bytelevel_tokenizer, sentencepiece_tokenizer, wordpiece_tokenizer


def test_canonical_forms_of_each_family():
    assert canonical_form("##ing", "wordpiece") == (CanonicalToken("ing", False), True)
    assert canonical_form("play", "wordpiece") == (CanonicalToken("play", True), True)
    assert canonical_form("##", "wordpiece") == (CanonicalToken("##", True), True)
    assert canonical_form("▁play", "sentencepiece") == (CanonicalToken("play", True), True)
    assert canonical_form("ing", "sentencepiece") == (CanonicalToken("ing", False), True)
    assert canonical_form("Ġplay", "bytelevel") == (CanonicalToken("play", True), True)
    assert canonical_form("ing", "bytelevel") == (CanonicalToken("ing", False), True)
    # "кот" in byte-level BPE characters, with and without the leading space byte.
    assert canonical_form("ĠÐºÐ¾ÑĤ", "bytelevel") == (CanonicalToken("кот", True), True)
    # Half of a two-byte character cannot be decoded.
    canonical, ok = canonical_form("Ð", "bytelevel")
    assert not ok


def test_detect_scheme():
    assert detect_scheme(wordpiece_tokenizer(["a", "##b"])) == "wordpiece"
    assert detect_scheme(sentencepiece_tokenizer(["▁a", "b"])) == "sentencepiece"
    assert detect_scheme(bytelevel_tokenizer(["Ġa", "b"])) == "bytelevel"


def test_special_roles_roberta_style():
    tok = sentencepiece_tokenizer(["▁a"])
    roles = special_roles(tok)
    # <s> is bos (first in role order) and also plays cls; </s> is sep.
    assert roles[tok.convert_tokens_to_ids("<s>")] == "cls"
    assert roles[tok.convert_tokens_to_ids("</s>")] == "sep"
    assert roles[tok.convert_tokens_to_ids("<pad>")] == "pad"


def _overlap(source_tok, target_tok, **options):
    return find_overlap(vocab_tokens(source_tok), vocab_tokens(target_tok), MatchOptions(**options))


def test_wordpiece_source_sentencepiece_target_hand_computed():
    source = wordpiece_tokenizer(["play", "##ing", "the", "##the", "Cat", "7", ",", "##7"])
    # ids:                       5       6        7      8        9      10    11    12
    target = sentencepiece_tokenizer(["▁play", "ing", "▁the", "the", "▁cat", "▁7", ",", "▁zzz"])
    # ids:                               5        6      7       8      9       10    11    12
    overlap = _overlap(source, target)
    got = {(m.target_token, m.source_token, m.kind) for m in overlap.matches}
    assert got == {
        ("<s>", "[CLS]", "special"),
        ("<pad>", "[PAD]", "special"),
        ("</s>", "[SEP]", "special"),
        ("<unk>", "[UNK]", "special"),
        ("<mask>", "[MASK]", "special"),
        ("▁play", "play", "exact"),
        ("ing", "##ing", "exact"),
        ("▁the", "the", "exact"),
        ("the", "##the", "exact"),
        ("▁7", "7", "exact"),
        # "," is word-internal in SentencePiece but word-start in WordPiece: a symbol match.
        (",", ",", "symbol"),
    }
    target_vocab = target.get_vocab()
    assert sorted(overlap.new_ids) == sorted([target_vocab["▁cat"], target_vocab["▁zzz"]])
    assert overlap.counts == {"special": 5, "exact": 5, "symbol": 1}


def test_fuzzy_matching_prefers_exact_then_lowest_id():
    source = wordpiece_tokenizer(["cat", "Cat", "##cat"])  # ids 5, 6, 7
    target = sentencepiece_tokenizer(["▁CAT", "Cat"])
    no_fuzzy = _overlap(source, target)
    assert [m.target_token for m in no_fuzzy.matches if m.kind != "special"] == []
    fuzzy = _overlap(source, target, fuzzy=True)
    pairs = {m.target_token: (m.source_token, m.kind) for m in fuzzy.matches if m.kind != "special"}
    # "▁CAT" (word start): same word-start candidates are cat (5) and Cat (6): lowest id wins.
    assert pairs["▁CAT"] == ("cat", "fuzzy")
    # "Cat" (word-internal): the candidate with the same text "Cat" wins over lower ids.
    assert pairs["Cat"] == ("Cat", "fuzzy")


def test_exact_off_copies_only_specials():
    source = wordpiece_tokenizer(["play"])
    target = wordpiece_tokenizer(["play"])
    overlap = _overlap(source, target, exact=False, symbols=False)
    assert {m.kind for m in overlap.matches} == {"special"}
    assert overlap.num_new == 1


def test_bytelevel_target_matches_wordpiece_source():
    source = wordpiece_tokenizer(["кот", "##ик", "dog"])
    target = bytelevel_tokenizer(["ĠÐºÐ¾ÑĤ", "Ð¸Ðº", "Ġdog", "Ð"])
    overlap = _overlap(source, target)
    got = {(m.target_token, m.source_token) for m in overlap.matches if m.kind != "special"}
    assert got == {("ĠÐºÐ¾ÑĤ", "кот"), ("Ð¸Ðº", "##ик"), ("Ġdog", "dog")}
    # The undecodable half-character is a new token, embedded under its raw string.
    tokens = {t.token: t for t in vocab_tokens(target)}
    assert tokens["Ð"].id in overlap.new_ids
    assert tokens["Ð"].surface == "Ð"
    assert tokens["ĠÐºÐ¾ÑĤ"].surface == "кот"


def test_surface_and_candidates():
    tokens = {t.token: t for t in vocab_tokens(wordpiece_tokenizer(["##ing", "[unused3]", "play"]))}
    assert tokens["##ing"].surface == "ing"
    assert tokens["play"].surface == "play"
    assert not is_candidate_source(tokens["[CLS]"])
    assert not is_candidate_source(tokens["[unused3]"])
    assert is_candidate_source(tokens["##ing"])


def test_regular_tokens_and_a_tokenizer_of_special_tokens_only():
    assert regular_tokens(wordpiece_tokenizer(["a", "##b", "[unused0]"])) == ["a", "##b"]
    assert regular_tokens(sentencepiece_tokenizer(["▁x"])) == ["▁x"]
    check_regular_tokens(wordpiece_tokenizer(["a"]), "tok")  # one regular token is enough
    for tokenizer in (
        wordpiece_tokenizer([]),
        sentencepiece_tokenizer([]),
        wordpiece_tokenizer(["[unused1]"]),
    ):
        with pytest.raises(SembridgeError, match=r"^target tokenizer 'tok' has no regular token: its \d"):
            check_regular_tokens(tokenizer, "tok")
    with pytest.raises(SembridgeError) as err:
        check_regular_tokens(wordpiece_tokenizer([]), "tok")
    assert str(err.value) == (
        "target tokenizer 'tok' has no regular token: its 5 token(s) are all special "
        "([PAD], [UNK], [CLS], [SEP], [MASK])"
    )
