"""The parts document of POST .../upload/parts: the reader and the published schema are one rule."""

import base64
import hashlib

import jsonschema
import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.domain import limits
from chalicelib.errors import InvalidBody, InvalidParameter
from chalicelib.http import forms
from tests.helpers import items_of_kind, post_asset

SCHEMA = jsonschema.Draft202012Validator(forms.PARTS_SCHEMA)
DIGEST = hashlib.sha256(b'part').digest()

# No string here ends in a newline: Python's re.search (which jsonschema uses) lets "$" match before
# one, where ECMA-262 (the dialect the schema is published in) does not; the reader follows ECMA-262.
_sha256ish = st.one_of(
    st.just(DIGEST.hex()),
    st.just(DIGEST.hex().upper()),
    st.just(base64.b64encode(DIGEST).decode()),
    st.just(base64.b64encode(DIGEST[:31]).decode()),
    st.just(DIGEST.hex()[:63]),
    st.text('0123456789abcdefABCDEF+/=', min_size=42, max_size=66),
    st.text(max_size=5).filter(lambda text: not text.endswith('\n')),
)
_edges = [0, 1, 2, limits.MAX_PARTS, limits.MAX_PARTS + 1, limits.MAX_PART, limits.MAX_PART + 1, -1]
_odd = [*_edges, *(float(n) for n in _edges), 1.5, '1', True, None]
_value = st.one_of(
    st.sampled_from(_edges),
    st.integers(),
    st.floats(),
    st.sampled_from([float(n) for n in _edges]),
    st.booleans(),
    st.none(),
    st.just('1'),
    _sha256ish,
    st.lists(st.integers(), max_size=1),
)
_valid_sha256 = st.sampled_from([DIGEST.hex(), DIGEST.hex().upper(), base64.b64encode(DIGEST).decode()])
_valid_part = st.fixed_dictionaries(
    {'part_number': st.integers(1, 5) | st.sampled_from([limits.MAX_PARTS, 2.0]), 'sha256': _valid_sha256},
    optional={'size': st.integers(1, 3) | st.sampled_from([limits.MAX_PART])},
)


@st.composite
def _changed_part(draw):
    """A valid part with one field replaced, removed or added."""
    part = draw(_valid_part)
    name = draw(st.sampled_from(['part_number', 'sha256', 'size', 'extra']))
    if draw(st.booleans()):
        part.pop(name, None)
    else:
        part[name] = draw(_sha256ish if name == 'sha256' else st.sampled_from(_odd) | _value)
    return part


_part = st.one_of(
    _valid_part,
    _changed_part(),
    st.dictionaries(st.sampled_from(['part_number', 'sha256', 'size', 'extra']), _value, max_size=4),
    _value,
)
_document = st.one_of(
    st.tuples(st.lists(_valid_part, max_size=2), _changed_part()).map(lambda parts: {'parts': [*parts[0], parts[1]]}),
    st.fixed_dictionaries({'parts': st.lists(_valid_part, min_size=1, max_size=3)}),
    st.fixed_dictionaries({'parts': st.lists(_part, max_size=4)}),
    st.fixed_dictionaries({'parts': _value}, optional={'more': _value}),
    _value,
)


def _accepted(document) -> bool:
    try:
        forms.read_parts(document)
    except (InvalidBody, InvalidParameter):
        return False
    return True


def _agree(document) -> None:
    allowed = SCHEMA.is_valid(document)
    if allowed:  # what a schema cannot say: a part number is given once
        numbers = [int(part['part_number']) for part in document['parts']]
        allowed = len(set(numbers)) == len(numbers)
    assert _accepted(document) == allowed


@settings(max_examples=500)
@given(_document)
def test_the_reader_accepts_exactly_the_documents_the_published_schema_allows(document):
    _agree(document)


@pytest.mark.parametrize('name', ['part_number', 'size', 'sha256'])
@pytest.mark.parametrize('value', [*_odd, DIGEST.hex(), 'x' * 43 + '=', 'x' * 44, [1]])
def test_the_reader_and_the_schema_agree_at_every_bound(name, value):
    _agree({'parts': [{'part_number': 1, 'sha256': DIGEST.hex(), name: value}]})


def test_the_published_schema_bounds_a_part_as_s3_does():
    part = forms.PARTS_SCHEMA['properties']['parts']['items']
    assert part['properties']['part_number']['maximum'] == limits.MAX_PARTS == 10_000
    assert part['properties']['size']['maximum'] == limits.MAX_PART == 5 * 1024**3
    assert part['required'] == ['part_number', 'sha256']


def test_the_reader_gives_each_part_its_sha256_in_base64():
    parts = forms.read_parts(
        {
            'parts': [
                {'part_number': 2, 'sha256': DIGEST.hex(), 'size': 7},
                {'part_number': 1.0, 'sha256': 'x' * 43 + '='},
            ]
        }
    )
    assert parts == {2: (base64.b64encode(DIGEST).decode(), 7), 1: ('x' * 43 + '=', None)}


@pytest.mark.parametrize('part_number', ['1', True, 10_001])
def test_a_part_number_outside_the_schema_answers_400_and_signs_nothing(client, owner_key, aws, part_number):
    _, created = post_asset(client, owner_key, query='name=s.bin&size=6291456&part_checksums=sha256')
    asset_id = created['asset']['id']
    before = items_of_kind(aws, 'version')
    parts = {'parts': [{'part_number': part_number, 'sha256': DIGEST.hex()}]}
    response, body = post_asset(
        client, owner_key, path=f'/asset/{asset_id}/upload/parts', query='version=1', body=parts
    )
    assert response.status_code == 400 and body['error']['parameter'] == 'parts' and 'parts' not in body
    assert items_of_kind(aws, 'version') == before
