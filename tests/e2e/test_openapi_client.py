"""openapi.yaml feeds a client generator: openapi-typescript's types compile a register call under tsc --strict."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "node_modules" / ".bin"

# A frontend's register call, typed only by the generated file: the body names only the required fields
# (every field with a default must be optional), and the 201's net_amount is read as the decimal string it is.
CLIENT = """
import type { paths } from "./api";

type Register = paths["/api/income/register/"]["post"];
type RegisterBody = Register["requestBody"]["content"]["application/json"];
type Registered = Register["responses"][201]["content"]["application/json"];
type Problem = Register["responses"][409]["content"]["application/problem+json"];

declare function post<T>(path: string, body: unknown, headers: Record<string, string>): Promise<T>;

export async function registerOtherIncome(token: string): Promise<string> {
  const body: RegisterBody = { type: "other_income", gross_amount: "400.00", sale_date: "2026-11-15" };
  const created = await post<Registered>("/api/income/register/", body, {
    Authorization: `Bearer ${token}`, "Idempotency-Key": "brand-deal-2026-11",
  });
  const net: string = created.net_amount;
  return net;
}

// Idempotent-Replayed comes only with a replay: a first answer's headers need not have it.
export const firstAnswer: Register["responses"][201]["headers"] = {};

export function conflictType(p: Problem): string {
  return p.type;
}
"""

# The same call with three mistakes a real type catches: a required field left out, a field that does not
# exist, and money read as a number.
WRONG = {
    "missing gross_amount": ('{ type: "other_income", gross_amount: "400.00", sale_date: "2026-11-15" }',
                             '{ type: "other_income", sale_date: "2026-11-15" }', "TS2741"),
    "unknown field": ('sale_date: "2026-11-15" }', 'sale_date: "2026-11-15", discount: "1.00" }', "TS2353"),
    "net_amount as a number": ("const net: string = created.net_amount;",
                               "const net: number = created.net_amount;", "TS2322"),
}


# Redocly's "recommended" rules (structure, examples against their schemas, unused components, a 4xx per
# operation, …) through @redocly/openapi-core, the parser openapi-typescript itself uses. Two rules are off:
# the contract puts a trailing slash on every path (API.md), and the API has no licence to state.
LINT = """
import { lint, createConfig } from "@redocly/openapi-core";
const config = await createConfig({ extends: ["recommended"],
                                    rules: { "no-path-trailing-slash": "off", "info-license": "off" } });
const problems = await lint({ ref: process.argv[2], config });
for (const p of problems) console.log(p.severity, p.ruleId, p.message, p.location?.[0]?.pointer ?? "");
process.exit(problems.length ? 1 : 0);
"""


def test_the_document_passes_redoclys_recommended_rules(tmp_path):
    script = ROOT / "node_modules" / f".openapi-lint-{os.getpid()}.mjs"  # inside node_modules: it resolves imports
    script.write_text(LINT)
    try:
        proc = subprocess.run(["node", str(script), str(ROOT / "openapi.yaml")], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
    finally:
        script.unlink()
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    for tool in ("openapi-typescript", "tsc"):
        assert (BIN / tool).exists(), f"node_modules/.bin/{tool} missing: run npm ci (package.json devDependencies)"
    out = tmp_path_factory.mktemp("ts")
    proc = subprocess.run([str(BIN / "openapi-typescript"), str(ROOT / "openapi.yaml"), "-o", str(out / "api.ts")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _tsc(folder: Path, source: str) -> subprocess.CompletedProcess:
    (folder / "client.ts").write_text(source)
    return subprocess.run([str(BIN / "tsc"), "--strict", "--noEmit", "--target", "es2022", "--lib", "es2022",
                           "--module", "esnext", "--moduleResolution", "bundler", "client.ts"],
                          cwd=folder, capture_output=True, text=True, timeout=180)


def test_a_typed_register_call_compiles_under_strict(generated):
    proc = _tsc(generated, CLIENT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("mistake", sorted(WRONG))
def test_a_wrong_register_call_does_not_compile(generated, tmp_path, mistake):
    before, after, code = WRONG[mistake]
    assert before in CLIENT
    shutil.copy(generated / "api.ts", tmp_path / "api.ts")
    proc = _tsc(tmp_path, CLIENT.replace(before, after))
    assert proc.returncode != 0 and code in proc.stdout, proc.stdout + proc.stderr
