"""The README's curl session, run as written (the product's front door) against the local stack."""

import re
import subprocess

from chalicelib.storage import keys
from tools import ROOT


def readme_session() -> str:
    with open(f'{ROOT}/README.md') as f:
        text = f.read()
    section = text[text.index('## A curl session') :]
    return re.search(r'```sh\n(.*?)```', section, re.S).group(1)


def test_the_readme_curl_session_runs_as_written_and_downloads_the_bytes(stack, tmp_path):
    (tmp_path / '.local').mkdir()
    (tmp_path / '.local' / 'env').write_text((stack.log_path.parent / 'env').read_text())  # as make run wrote it
    script = 'set -euo pipefail\n' + readme_session()
    result = subprocess.run(['bash', '-c', script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'hello from assetgate' in result.stdout
    received = tmp_path / '.local' / 'try' / 'received' / 'report.txt'
    assert received.read_text() == 'hello from assetgate\n'  # saved under the asset's own name
    assert '/upload-request/' in result.stdout  # step 6 printed an upload link
    created = re.search(r'/asset-token/([0-9a-f-]{36})', (tmp_path / '.local' / 'try' / 'created.json').read_text())
    token = [i for i in stack.scan() if i['ObjID']['S'] == keys.token(keys.secret_hash(created.group(1)))[0]][0]
    assert token['uses']['N'] == '1'  # the HEAD of step 5 used nothing; only step 4's download counted
