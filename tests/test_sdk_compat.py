"""Zoho's official Python SDK (``zohocrmsdk8-0``) against the fake server, end to end.

What a user of the SDK does in their own tests: a custom environment whose
URLs point at the fake, an `OAuthToken`, then the SDK's record locking
operations, checked through the SDK's own response objects. The SDK is
synchronous (``requests``): each call runs in a thread while the fake
server answers on the test's event loop. Every file it writes (token store,
field metadata cache, log) goes to ``tmp_path``.

Installed by the ``[sdk-compat]`` extra, which CI installs; skipped only
where the SDK cannot be imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from docs_blocks import python_blocks

pytest.importorskip("zohocrmsdk", reason="Zoho's SDK: pip install -e '.[sdk-compat]'")

# The SDK's modules, imported once it is known to be there.
from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore
from zohocrmsdk.src.com.zoho.api.logger import Logger
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
from zohocrmsdk.src.com.zoho.crm.api.fields import FieldsOperations, GetFieldsParam
from zohocrmsdk.src.com.zoho.crm.api.fields import ResponseWrapper as FieldsWrapper
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
from zohocrmsdk.src.com.zoho.crm.api.parameter_map import ParameterMap
from zohocrmsdk.src.com.zoho.crm.api.record_locking import (
    ActionWrapper,
    APIException,
    BodyWrapper,
    GetRecordLockingInformationsParam,
    LockRecord,
    RecordLock,
    RecordLockingOperations,
    ResponseWrapper,
    SuccessResponse,
)
from zohocrmsdk.src.com.zoho.crm.api.users import MinifiedUser, UsersOperations
from zohocrmsdk.src.com.zoho.crm.api.users import ResponseWrapper as UsersWrapper

from zoho_locking.testing import FakeZoho
from zoho_locking.testing.fields import DEAL_STAGES, SEED_OWNERS, schema_for
from zoho_locking.testing.plugin import FakeZohoFactory

pytestmark = pytest.mark.sdk_compat
T = TypeVar("T")


@pytest.fixture
def sdk_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory for everything the SDK writes; the working directory is an empty one."""
    files, cwd = tmp_path / "sdk", tmp_path / "cwd"
    files.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # the SDK's defaults write there: it must stay empty
    logger = logging.getLogger("SDKLogger")
    level, handlers = logger.level, list(logger.handlers)
    yield files
    # The SDK adds its log file's handler to a global logger: take it back.
    for handler in logger.handlers[len(handlers) :]:
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(level)
    assert list(cwd.iterdir()) == []


async def in_thread(call: Callable[..., T], *args: Any) -> T:
    """Run one blocking SDK call off the event loop, which serves the fake meanwhile."""
    return await asyncio.to_thread(call, *args)


def start_sdk(zoho: FakeZoho, token: OAuthToken, files: Path) -> None:
    """Initialise the SDK as a user would, with every URL pointing at the fake."""
    environment = DataCenter.Environment(zoho.url, zoho.token_url, zoho.url)
    Initializer.initialize(
        environment=environment,
        token=token,
        store=FileStore(str(files / "tokens.csv")),
        resource_path=str(files),
        logger=Logger.get_instance(Logger.Levels.INFO, str(files / "sdk.log")),
    )


def reason_body(reason: str) -> BodyWrapper:
    lock = LockRecord()
    lock.set_locked_reason__s(reason)
    body = BodyWrapper()
    body.set_data([lock])
    return body


def success(answer: Any, status: int, message: str) -> SuccessResponse:
    """The one SUCCESS item of an action's answer, checked."""
    assert answer.get_status_code() == status
    wrapper = answer.get_object()
    assert isinstance(wrapper, ActionWrapper)
    (item,) = wrapper.get_data()
    assert isinstance(item, SuccessResponse)
    assert (item.get_status().get_value(), item.get_code().get_value()) == ("success", "SUCCESS")
    assert item.get_message().get_value() == message
    return item


def refusal(answer: Any, status: int, code: str) -> APIException:
    """The SDK's exception object for a top-level error envelope, checked."""
    assert answer.get_status_code() == status
    exception = answer.get_object()
    assert isinstance(exception, APIException)
    assert (exception.get_status().get_value(), exception.get_code().get_value()) == (
        "error",
        code,
    )
    return exception


def locks_of(answer: Any) -> list[RecordLock]:
    assert answer.get_status_code() == 200
    wrapper = answer.get_object()
    assert isinstance(wrapper, ResponseWrapper)
    return list(wrapper.get_data())


async def test_the_sdk_locks_reads_updates_and_unlocks(
    make_fake_zoho: FakeZohoFactory, sdk_files: Path
) -> None:
    zoho = await make_fake_zoho(records={"Deals": 2})
    crm = zoho.crm
    deal, other = crm.record_ids("Deals")
    await in_thread(start_sdk, zoho, OAuthToken(access_token=zoho.access_token), sdk_files)
    # Initialising asked who the token's user is and which org: both answered.
    assert [(r.path, r.query, r.status) for r in crm.requests] == [
        ("/crm/v8/users", {"type": "CurrentUser"}, 200),
        ("/crm/v8/org", {}, 200),
    ]
    ops = RecordLockingOperations(int(deal), "Deals")

    locked = success(await in_thread(ops.lock_records, reason_body("final negotiations")),
                     201, "record added")  # fmt: skip
    lock = crm.lock_of("Deals", deal)
    assert lock is not None and locked.get_details()["id"] == lock.id
    # Before its first locking call, the SDK read the field metadata, once.
    fields = [(r.query, r.status) for r in crm.requests if r.path == "/crm/v8/settings/fields"]
    assert fields == [({"module": "Locking_Information__s"}, 200)]

    params = ParameterMap()
    params.add(GetRecordLockingInformationsParam.fields, "Locked_Reason__s,Lock_Source__s")
    answer = await in_thread(ops.get_record_locking_informations, params)
    (found,) = locks_of(answer)
    assert answer.get_object().get_info().get_count() == 1
    assert isinstance(found, RecordLock) and found.get_id() == int(lock.id)
    assert found.get_key_value("Lock_Source__s").get_value() == "Manual"
    assert found.get_key_value("Locked_Reason__s") == "final negotiations"
    user = found.get_key_value("Locked_By__s")
    assert isinstance(user, MinifiedUser) and (user.get_id(), user.get_name()) == (
        int(crm.user[0]), crm.user[1])  # fmt: skip
    assert found.get_key_value("Locked_For__s").get_id() == int(deal)
    assert found.get_key_value("Record_Locking_Rule_Id__s") is None

    (one,) = locks_of(await in_thread(ops.get_record_locking_information, int(lock.id)))
    assert one.get_id() == int(lock.id)

    updated = await in_thread(
        ops.update_record_locking_information, int(lock.id), reason_body("awaiting approval")
    )
    assert success(updated, 200, "relation updated").get_details() == {"id": lock.id}
    changed = crm.lock_of("Deals", deal)
    assert changed is not None and changed.reason == "awaiting approval"

    twice = refusal(await in_thread(ops.lock_records, reason_body("twice")), 403, "NOT_ALLOWED")
    assert twice.get_message().get_value() == "record is already locked"

    unlocked = await in_thread(ops.unlock_record, int(lock.id))
    assert success(unlocked, 200, "relation removed").get_details() == {"id": lock.id}
    assert crm.lock_of("Deals", deal) is None
    refusal(await in_thread(ops.unlock_record, int(lock.id)), 400, "INVALID_DATA")
    empty = await in_thread(ops.get_record_locking_informations, params)
    assert (empty.get_status_code(), empty.get_object()) == (204, None)

    # A lock of source "Both" reads as the SDK's picklist choice, like the others.
    crm.manual_lock("Deals", other, "by hand")
    crm.auto_lock("Deals", other)
    both_ops = RecordLockingOperations(int(other), "Deals")
    (both,) = locks_of(await in_thread(both_ops.get_record_locking_informations, params))
    assert both.get_key_value("Lock_Source__s").get_value() == "Both"
    assert both.get_key_value("Record_Locking_Rule_Id__s") == int(crm.module("Deals").rule_id)
    assert all(r.status is not None and r.status < 500 for r in crm.requests)
    assert zoho.access_token not in (sdk_files / "sdk.log").read_text()


async def test_the_sdk_reads_a_modules_fields_and_the_orgs_users(
    make_fake_zoho: FakeZohoFactory, sdk_files: Path
) -> None:
    zoho = await make_fake_zoho(records={"Deals": 1})
    await in_thread(start_sdk, zoho, OAuthToken(access_token=zoho.access_token), sdk_files)
    params = ParameterMap()
    params.add(GetFieldsParam.module, "Deals")
    answer = await in_thread(FieldsOperations().get_fields, params)
    assert answer.get_status_code() == 200 and isinstance(answer.get_object(), FieldsWrapper)
    fields = {field.get_api_name(): field for field in answer.get_object().get_fields()}
    assert list(fields) == [spec.api_name for spec in schema_for("Deals").fields]
    assert fields["Amount"].get_data_type() == "currency"
    assert fields["Owner"].get_data_type() == "ownerlookup"
    stages = [value.get_actual_value() for value in fields["Stage"].get_pick_list_values()]
    assert stages == list(DEAL_STAGES)

    users = await in_thread(UsersOperations().get_users)
    assert users.get_status_code() == 200 and isinstance(users.get_object(), UsersWrapper)
    found = [(str(user.get_id()), user.get_full_name()) for user in users.get_object().get_users()]
    assert found == list(SEED_OWNERS)
    one = await in_thread(UsersOperations().get_user, int(SEED_OWNERS[2][0]))
    assert [user.get_full_name() for user in one.get_object().get_users()] == [SEED_OWNERS[2][1]]
    nobody = await in_thread(UsersOperations().get_user, 42)
    assert (nobody.get_status_code(), nobody.get_object()) == (204, None)


async def test_the_sdk_mints_its_tokens_from_the_fakes_refresh_token(
    make_fake_zoho: FakeZohoFactory, sdk_files: Path
) -> None:
    zoho = await make_fake_zoho(records={"Deals": 1}, oauth=True, token_life=600.0)
    accounts = zoho.accounts
    assert accounts is not None
    (deal,) = zoho.crm.record_ids("Deals")
    token = OAuthToken(
        client_id=accounts.client_id,
        client_secret=accounts.client_secret,
        refresh_token=accounts.refresh_token,
    )
    await in_thread(start_sdk, zoho, token, sdk_files)
    ops = RecordLockingOperations(int(deal), "Deals")
    success(await in_thread(ops.lock_records, reason_body("minted")), 201, "record added")
    assert accounts.mints == 1 and [entry.outcome for entry in accounts.requests] == ["ok"]
    assert zoho.crm.lock_of("Deals", deal) is not None


async def test_the_docs_sdk_example_runs_against_the_fake(
    make_fake_zoho: FakeZohoFactory, sdk_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (block,) = [block for block in python_blocks() if "zohocrmsdk" in block.code]
    code = block.code
    assert "http://127.0.0.1:8080" in code
    zoho = await make_fake_zoho(records={"Deals": 1})
    monkeypatch.chdir(sdk_files)  # the example writes its token store and cache where it runs
    code = code.replace("http://127.0.0.1:8080", zoho.url)
    out = io.StringIO()

    def run() -> None:
        with contextlib.redirect_stdout(out):
            exec(compile(code, block.name, "exec"), {"__name__": "__main__"})

    await in_thread(run)
    assert out.getvalue().splitlines() == ["201 record added", "Manual final negotiations"]
