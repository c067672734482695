"""A loopback simulator of the SEPM 14 REST API over a generated, deterministic fleet.

Shapes follow ../shared/vendor-apis/sepm.md: page objects (section 4), group records (6.1), computer
records as a 14.3 server sends them (7.4, field order of the captured records), error bodies and status
codes (12), and the quirks a client must survive: `group.fullPathName` is null inside computer records,
unknown paths answer a Tomcat HTML page, and `//` in a path or a POST without a JSON content type
answers 500.

Fingerprint lists, system lockdown and the command queue (sections 8, 9; seeds 000 and 001) are at the end
of the module (`SepmHashActions`). Lists: "Whitelist" (the reference's example), "Blacklist" (a 14.2
capture) and "Demo Blocklist" (the dropper's and the dumper's SHA-256, assigned to My Company\\Quarantine);
409 on a duplicate name, 410 on a missing id or name, 400 on assigning a missing list, 422 in
My Company\\Servers\\Domain Controllers (system lockdown off) or for a list already assigned, 423 for a
group in `locked_groups`. Commands move through the states of KB 229117 on a simulated clock that every
/command-queue request advances by 5 s. Some Windows computers hold these harmless demo files (every
computer in My Company\\Quarantine holds the dropper):

| file | path | MD5 | SHA-256 |
| --- | --- | --- | --- |
| dropper | C:\\Users\\Public\\Downloads\\Invoice_2026-11.pdf.exe | DA1A8A89467B0E326DEB152C3944E979 | 8BB6670C221886570AF2F8BDAA57A62779C77707D50E1BF84A7C1609907C659A |
| dumper (servers) | C:\\Windows\\Temp\\svchost32.exe | 79B287A0B2057844B13243A08C81A5CE | B57893A39D26A941A16BB33D95F3390D049A9B6123942CDF081EB738DAD30A15 |
| remote-access tool | C:\\ProgramData\\RemoteHelper\\RemoteHelper.dll | 5681632ED639609C0F120BC896C36F24 | 2D7747AED86FEBC327A2472A770774563ED770CEB220AAB4D80068A777FDBFCC |

An EOC scan reports HASH_MATCH (sub-state 101) where a computer holds a searched file, and with
REMEDIATE deletes it (remediation SUCCEEDED, sometimes FAILED; UNSUPPORTED for a SHA-1, which needs a
Power Eraser scan first); a deleted file is then found only in the quarantine. Non-Windows computers
reject EOC scans. A fetch succeeds where the path and hash match a file the computer holds.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import random
import re
import time
import uuid
import xml.etree.ElementTree as ElementTree
import zlib
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from functools import cached_property
from http import HTTPStatus
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tui.simulators import DAY, DEMO_CREDENTIALS, EPOCH, HOUR, MINUTE, Draw, distinct_seeds, event_log_of, fleet_clock
from tui.simulators.faults import FaultInjector, FaultPlan
from tui.simulators.json_response import JSONResponse

DEMO_USERNAME, DEMO_PASSWORD = DEMO_CREDENTIALS["sepm"]

BASE_PATH = "/sepm/api/v1"
MAX_PAGE_SIZE = 1000

ADMIN_ID = "AF3C39A10A320801000000DBF200C60A"
"""The built-in admin's id: every captured server, 2016 to 2023, shows this same value."""


class _Os(NamedTuple):
    operating_system: str
    name: str
    version: str
    major: int
    minor: int
    service_pack: str
    bitness: str
    function: str
    flavor: int
    kernel: str | None

    @property
    def windows(self) -> bool:
        return self.name.startswith("Windows")

    @property
    def linux(self) -> bool:
        return self.kernel is not None and not self.name.startswith("macOS")


_OSES: dict[str, _Os] = {
    "win10": _Os("Windows 10 Enterprise Edition", "Windows 10", "10.0", 10, 0, "19045",
                 "x64", "Workstation", 4, None),
    "win11": _Os("Windows 11 Enterprise Edition", "Windows 11", "10.0", 10, 0, "22631",
                 "x64", "Workstation", 4, None),
    "srv2016": _Os("Windows Server 2016 Standard Edition", "Windows Server 2016", "10.0", 10, 0, "14393",
                   "x64", "Server", 7, None),
    "srv2019": _Os("Windows Server 2019 Datacenter Edition", "Windows Server 2019", "10.0", 10, 0, "17763",
                   "x64", "Server", 8, None),
    "srv2022": _Os("Windows Server 2022 Datacenter Edition", "Windows Server 2022", "10.0", 10, 0, "20348",
                   "x64", "Server", 8, None),
    "macos": _Os("macOS 14.5", "macOS", "14.5", 14, 5, "",
                 "arm64", "Workstation", 0, "Darwin 23.5.0"),
    "ubuntu": _Os("Ubuntu 22.04.4 LTS", "Ubuntu", "22.04", 22, 4, "",
                  "x64", "Server", 0, "5.15.0-105-generic"),
    "rhel": _Os("Red Hat Enterprise Linux 8.9", "Red Hat Enterprise Linux", "8.9", 8, 9, "",
                "x64", "Server", 0, "4.18.0-513.5.1.el8_9.x86_64"),
}
_OS_KEYS = tuple(_OSES)

_OFFICE = {"win11": 55, "win10": 42, "macos": 3}
_ENGINEERING = {"win11": 55, "win10": 25, "macos": 20}
_LAPTOP = {"win11": 60, "win10": 18, "macos": 22}
_EXECUTIVE = {"macos": 70, "win11": 30}
_BUILD = {"ubuntu": 55, "srv2022": 30, "macos": 15}
_WEB = {"srv2019": 35, "srv2022": 25, "srv2016": 15, "ubuntu": 15, "rhel": 10}
_DATABASE = {"srv2019": 45, "srv2016": 20, "rhel": 35}
_WINDOWS_SERVER = {"srv2016": 30, "srv2019": 40, "srv2022": 30}


class _GroupSpec(NamedTuple):
    path: str
    tag: str = ""
    weight: int = 0
    """Share of the fleet placed directly in this group (0: a container only)."""
    kind: str = ""
    """desktop, laptop or server: drives names, addressing and how often machines are offline."""
    mix: dict[str, int] = {}
    net: str = ""
    description: str = ""


_GROUP_SPECS = (
    _GroupSpec("My Company"),
    _GroupSpec("My Company\\Default Group", "NEW", 3, "desktop", _OFFICE, "10.30"),
    _GroupSpec("My Company\\Servers"),
    _GroupSpec("My Company\\Servers\\Datacenter East"),
    _GroupSpec("My Company\\Servers\\Datacenter East\\Web", "WEB", 6, "server", _WEB, "10.10"),
    _GroupSpec("My Company\\Servers\\Datacenter East\\Database", "DB", 3, "server", _DATABASE, "10.11"),
    _GroupSpec("My Company\\Servers\\Datacenter West"),
    _GroupSpec("My Company\\Servers\\Datacenter West\\File", "FS", 3, "server", _WINDOWS_SERVER, "10.20"),
    _GroupSpec("My Company\\Servers\\Datacenter West\\Application", "APP", 3, "server", _WEB, "10.21"),
    _GroupSpec("My Company\\Servers\\Domain Controllers", "DC", 1, "server", _WINDOWS_SERVER, "10.1"),
    _GroupSpec("My Company\\Workstations"),
    _GroupSpec("My Company\\Workstations\\Finance", "FIN", 10, "desktop", _OFFICE, "10.31"),
    _GroupSpec("My Company\\Workstations\\HR", "HR", 4, "desktop", _OFFICE, "10.32"),
    _GroupSpec("My Company\\Workstations\\Engineering", "ENG", 16, "desktop", _ENGINEERING, "10.33"),
    _GroupSpec("My Company\\Workstations\\Engineering\\Build Agents", "BLD", 4, "server", _BUILD, "10.34",
               "CI build machines, rebuilt weekly"),
    _GroupSpec("My Company\\Laptops"),
    _GroupSpec("My Company\\Laptops\\Sales", "SALES", 14, "laptop", _LAPTOP, "10.40"),
    _GroupSpec("My Company\\Laptops\\Remote", "RMT", 18, "laptop", _LAPTOP, "192.168"),
    _GroupSpec("My Company\\Laptops\\Executives", "EXEC", 2, "laptop", _EXECUTIVE, "10.41"),
    _GroupSpec("My Company\\Quarantine", "QRT", 1, "desktop", _OFFICE, "10.99",
               "Isolated machines awaiting remediation"),
)

_OFFLINE_RATE = {"laptop": 0.25, "desktop": 0.12, "server": 0.04}
_AGENT_VERSIONS = ("14.3.10148.8000", ("14.3.9816.7000", "14.3.9205.6000", "14.2.5587.2100", "12.1.7454.7000"))
_LEGACY_AGENT_VERSIONS = ("14.2.1031.0100", ("14.0.1904.0000", "12.1.7454.7000"))
"""(target version, older versions some agents still run) for 14.3 and for a 14.0-14.2 server."""

_VERSION = {"API_SEQUENCE": "240604011", "API_VERSION": "14.3.9000", "version": "14.3.25029.9000"}
_LEGACY_VERSION = {"version": "14.2.1031.0100", "API_SEQUENCE": "181118008", "API_VERSION": "1.0.0"}

_LEGACY_DUPLICATES = {
    "osname": "osName", "osbitness": "osBitness", "osfunction": "osFunction", "osversion": "osVersion",
    "osmajor": "osMajor", "osminor": "osMinor", "oslanguage": "osLanguage",
    "osservicePack": "osServicePack", "osflavorNumber": "osFlavorNumber",
}
"""Lower-case duplicates of the OS fields that SEPM 14.0-14.2 sent next to the camelCase ones."""

_NOT_IN_LEGACY = (
    "avDefsetVersion", "avDefsetSequence", "avDefsetRevision", "behavioralAnalysisDefsetVersion",
    "quarantineStatus", "quarantineCode", "tdadOnOff", "tdadStatusId", "tdadGlobalDataDownloadTime",
    "tdadGlobalDataProcessingDoneTime", "wssStatus", "pskVersion",
)
"""Fields that first appear in captures after 14.2 RU1."""

_INFECTION_INDEXES = ("0", "1", "2", "3", "5", "6", "7", "9", "10", "14")
_FIRST_NAMES = ("anna", "ben", "carla", "david", "elena", "farid", "grace", "hiro", "irene", "jonas",
                "kofi", "lena", "marek", "nina", "omar", "priya", "quinn", "rosa", "sven", "tariq")
_LAST_NAMES = ("smith", "mueller", "garcia", "chen", "novak", "okafor", "rossi", "kim", "dubois", "jansen",
               "silva", "kowalski", "ivanova", "haddad", "larsen", "tanaka", "brown", "moreau", "patel", "weber")
_CPUS = ("Intel64 Family 6 Model 140 Stepping 1", "Intel64 Family 6 Model 154 Stepping 3",
         "Intel64 Family 6 Model 186 Stepping 2")
_SERVER_CPUS = ("Intel64 Family 6 Model 85 Stepping 7", "Intel64 Family 6 Model 106 Stepping 6",
                "AMD64 Family 25 Model 1 Stepping 1")
_BIOSES = ("DELL   - 1072009 1.21.0", "HPQOEM - 0 U70 Ver. 01.14.00", "LENOVO - 1500 N32ET86W (1.62 )")
_VMWARE_BIOS = "INTEL  - 6040000 PhoenixBIOS 4.0 Release 6.0"
_PUBLIC_KEY_HEADER = bytes.fromhex("0602000000a40000525341310008000001000100")
"""The RSA public-key blob header every captured `publicKey` starts with ("BgIAAACkAABSU0Ex...")."""
_QUARANTINE_DESC = "Host Integrity check is disabled.\n Host Integrity policy has been disabled by the administrator."

_ID_MIX = 0x9E3779B1
_ID_UNMIX = pow(_ID_MIX, -1, 1 << 32)


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _utc(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}X}"


def _guid(rng: random.Random) -> str:
    raw = _hex(rng, 32)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def _prefix(spec: _GroupSpec, os_: _Os) -> str:
    if os_.name == "macOS":
        return "MBP"
    if os_.function == "Server":
        return "SRV"
    return "LT" if spec.kind == "laptop" else "WS"


def _computer_name(prefix: str, tag: str, serial: int) -> str:
    width = 5 if prefix in ("WS", "LT") else 4
    return f"{prefix}-{tag}-{serial:0{width}d}"


class SepmFleet:
    """A generated SEPM estate, identical for the same (size, seed, now).

    Per computer only a group, an OS, a name serial and a detail seed are stored (about 11 bytes), so a
    200,000-machine fleet builds in well under a second; each full record is rebuilt on demand from its
    detail seed. Computers are indexed in name order, which is the API's default sort.
    """

    def __init__(self, size: int = 500, seed: int = 7, now: datetime | None = None,
                 legacy_os_keys: bool = False) -> None:
        self.size = size
        self.seed = seed
        self.now, self.now_ms = fleet_clock(now)
        self.legacy_os_keys = legacy_os_keys

        rng = Draw(seed)
        self._site = _hex(rng, 8)
        self.domain = {"id": self._sepm_id(rng), "name": "Default"}
        self._server = {"id": self._sepm_id(rng), "name": "SEPM-PRD-01"}
        self._site_id = self._sepm_id(rng)
        self._id_salt = rng.getrandbits(32)

        counts = Counter(rng.choices(range(len(_GROUP_SPECS)), [g.weight for g in _GROUP_SPECS], k=size))
        rows: list[tuple[str, int, int, int]] = []
        serials: Counter[tuple[str, str]] = Counter()
        for group, spec in enumerate(_GROUP_SPECS):
            if not counts[group]:
                continue
            os_choices = [_OS_KEYS.index(key) for key in spec.mix]
            for os_index in rng.choices(os_choices, list(spec.mix.values()), k=counts[group]):
                prefix = _prefix(spec, _OSES[_OS_KEYS[os_index]])
                serials[prefix, spec.tag] += rng.randint(1, 3)  # gaps, as after decommissioning
                serial = serials[prefix, spec.tag]
                rows.append((_computer_name(prefix, spec.tag, serial), group, os_index, serial))
        rows.sort()
        self._group = array("H", (row[1] for row in rows))
        self._os = array("B", (row[2] for row in rows))
        self._serial = array("I", (row[3] for row in rows))
        self._detail_seed = distinct_seeds(rng, len(rows))

        self.groups: list[dict[str, Any]] = self._build_groups(rng, counts)
        self._group_position = {group["id"]: position for position, group in enumerate(self.groups)}

    def __len__(self) -> int:
        return self.size

    def _sepm_id(self, rng: random.Random) -> str:
        """32 upper-case hex digits with the server's site part in the middle, as SEPM GUIDs have."""
        return f"{_hex(rng, 8)}{self._site}{_hex(rng, 16)}"

    def _build_groups(self, rng: random.Random, counts: Counter[int]) -> list[dict[str, Any]]:
        installed = self.now_ms - rng.randint(900 * DAY, 1500 * DAY)
        policy_date = self.now_ms - rng.randint(1 * DAY, 20 * DAY)
        policy_stamp = _utc(policy_date).strftime("%m/%d/%Y %H:%M:%S ") + f"{policy_date % 1000:03d}"
        groups = []
        for position, spec in enumerate(_GROUP_SPECS):
            group_id = self._sepm_id(rng)
            top_level = position < 2  # "My Company" and "Default Group" exist from installation
            created = installed if top_level else installed + rng.randint(1 * DAY, 400 * DAY)
            groups.append({
                "id": group_id,
                "name": spec.path.rpartition("\\")[2],
                "description": spec.description,
                "fullPathName": spec.path,
                "numberOfPhysicalComputers": counts[position],
                "numberOfRegisteredUsers": counts[position],
                "createdBy": ADMIN_ID.ljust(128),
                "created": created,
                "lastModified": min(created + rng.randint(0, 200 * DAY), policy_date),
                "policySerialNumber": f"{group_id[:4]}-{policy_stamp}",
                "policyDate": policy_date,
                "customIpsNumber": "",
                "childGroups": None,
                "domain": dict(self.domain),
                "policyInheritanceEnabled": spec.path not in ("My Company", "My Company\\Quarantine"),
            })
        return groups

    def name(self, index: int) -> str:
        """The computer name, derived from the stored serial without building the record."""
        spec = _GROUP_SPECS[self._group[index]]
        prefix = _prefix(spec, _OSES[_OS_KEYS[self._os[index]]])
        return _computer_name(prefix, spec.tag, self._serial[index])

    def _unique_id_head(self, index: int) -> int:
        """The first 8 hex digits of a uniqueId: an invertible scramble of the index, so lookups by id
        and sorting by id need no table."""
        return ((index ^ self._id_salt) * _ID_MIX) & 0xFFFFFFFF

    def find(self, unique_id: str) -> int | None:
        """The index of the computer with this uniqueId, or None."""
        try:
            head = int(unique_id[:8], 16)
        except ValueError:
            return None
        index = ((head * _ID_UNMIX) & 0xFFFFFFFF) ^ self._id_salt
        if index < self.size and self.computer(index)["uniqueId"] == unique_id.upper():
            return index
        return None

    @cached_property
    def _unique_id_order(self) -> list[int]:
        return sorted(range(self.size), key=self._unique_id_head)

    def _order(self, by_unique_id: bool) -> range | list[int]:
        return self._unique_id_order if by_unique_id else range(self.size)

    def computer(self, index: int) -> dict[str, Any]:
        """The full SEPM computer record of the index-th computer in name order."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = Draw(self._detail_seed[index])
        spec = _GROUP_SPECS[self._group[index]]
        os_ = _OSES[_OS_KEYS[self._os[index]]]
        group = self.groups[self._group[index]]
        now = self.now_ms
        server = spec.kind == "server"
        virtual = server and rng.random() < 0.8
        domain_joined = os_.windows and spec.tag != "WEB"

        created = now - rng.randint(90 * DAY, 1200 * DAY)
        online = rng.random() >= _OFFLINE_RATE[spec.kind]
        last_update = now - (rng.randint(1 * MINUTE, 30 * MINUTE) if online else _offline_age(rng))
        defs = min(now - _definitions_age(rng), last_update - rng.randint(30 * MINUTE, 4 * HOUR))
        downloaded = min(defs + rng.randint(5 * MINUTE, 3 * HOUR), last_update)
        if rng.random() < 0.01:
            last_scan = 0
        else:
            last_scan = max(created, last_update - rng.randint(0, 36 * HOUR if rng.random() < 0.8 else 7 * DAY))
        infected = rng.random() < (0.25 if spec.tag == "QRT" else 0.015)
        target, older = _LEGACY_AGENT_VERSIONS if self.legacy_os_keys else _AGENT_VERSIONS
        running = rng.choice(older) if rng.random() < 0.04 else target
        reboot = rng.random() < 0.02

        subnet = f"{spec.net}.{rng.randint(0, 63)}"
        ipv4 = f"{subnet}.{rng.randint(2, 254)}"
        ips = [ipv4]
        if rng.random() < 0.3:
            ips.append("FE80:0000:0000:0000:" + ":".join(_hex(rng, 4) for _ in range(4)))
        if virtual:
            oui = "00-50-56"  # VMware
        else:
            oui = "A4-83-E7" if os_.name == "macOS" else rng.choice(("3C-52-82", "F8-B4-6A", "54-BF-64"))
        mac = oui + "".join(f"-{rng.getrandbits(8):02X}" for _ in range(3))
        if server:
            user = "Administrator" if os_.windows else "root"
        else:
            user = rng.choice(_FIRST_NAMES)[0] + rng.choice(_LAST_NAMES)
        cpu = "Apple M2" if os_.name == "macOS" else rng.choice(_SERVER_CPUS if server else _CPUS)
        memory_gib = rng.choice((32, 64, 128) if server else (8, 16, 16, 32))
        disk_mb = rng.choice((81567, 102398, 204797, 511997) if server else (243197, 486397, 975097))
        uuid_text = _guid(rng)
        computer_part = _hex(rng, 8)
        defs_day = _utc(defs)
        yymmdd = defs_day.strftime("%y%m%d")
        revision = defs_day.hour + 1
        windows_only = 1 if os_.windows else 2  # components only the Windows client has: on / not installed

        record = {
            "group": {"id": group["id"], "name": group["fullPathName"], "fullPathName": None,
                      "domain": dict(self.domain), "externalReferenceId": None, "source": None},
            "ipAddresses": ips,
            "macAddresses": [mac] * len(ips),  # one entry per address: duplicates, like real servers
            "gateways": [f"{subnet}.1", f"{subnet}.1", "0.0.0.0", "0.0.0.0"],
            "subnetMasks": ["255.255.255.0"] + ["64"] * (len(ips) - 1),
            "dnsServers": ["10.1.0.10", "10.1.0.11"],
            "winServers": ["0.0.0.0", "0.0.0.0"],
            "description": "",
            "computerName": self.name(index),
            "logonUserName": user,
            "domainOrWorkgroup": "CORP" if domain_joined else "WORKGROUP",
            "computerDescription": "",
            "processorType": cpu,
            "processorClock": rng.choice((2100, 2400, 2800, 3000)),
            "physicalCpus": 2 if server else 1,
            "logicalCpus": 0,
            "memory": memory_gib * 2**30 - rng.randint(0, 2**20),
            "biosVersion": _VMWARE_BIOS if virtual else ("" if not os_.windows else rng.choice(_BIOSES)),
            "osFunction": "DomainController" if spec.tag == "DC" else os_.function,
            "osFlavorNumber": os_.flavor,
            "osName": os_.name,
            "operatingSystem": os_.operating_system,
            "osVersion": os_.version,
            "osMajor": os_.major,
            "osMinor": os_.minor,
            "osServicePack": os_.service_pack,
            "osBitness": os_.bitness,
            "tmpDevice": None,
            "uniqueId": f"{self._unique_id_head(index):08X}{self._site}{computer_part}{_hex(rng, 8)}",
            "hardwareKey": _hex(rng, 32),
            "uuid": uuid_text,
            "osLanguage": "en-US" if rng.random() < 0.9 else rng.choice(("de-DE", "fr-FR", "es-ES")),
            "totalDiskSpace": disk_mb,
            "groupUpdateProvider": False,
            "deploymentStatus": "302456832",
            "deploymentMessage": "",
            "deploymentTargetVersion": target,
            "deploymentRunningVersion": running,
            "deploymentPreVersion": "",
            "lastDeploymentTime": min(created + rng.randint(5 * MINUTE, 60 * DAY), last_update) // 1000 * 1000,
            "virtualizationPlatform": "VMware" if virtual else "Unknown",
            "securityVirtualAppliance": None,
            "serialNumber": ("VMware-" + uuid_text.replace("-", "").lower()[:16]) if virtual else _hex(rng, 10),
            "installType": "0",
            "writeFiltersStatus": None,
            "agentVersion": running,
            "atpDeviceId": None,
            "encryptedDevicePassword": None,
            "publicKey": base64.b64encode(_PUBLIC_KEY_HEADER + rng.randbytes(256)).decode(),
            "deleted": 0,
            "quarantineStatus": 3,
            "quarantineCode": 105,
            "quarantineDesc": _QUARANTINE_DESC,
            "loginDomain": "CORP" if domain_joined else "LocalComputer",
            "agentId": f"{_hex(rng, 8)}{self._site}{computer_part}{_hex(rng, 8)}",
            "agentType": "105",
            "profileVersion": running.rpartition(".")[0],
            "profileSerialNo": group["policySerialNumber"],
            "profileChecksum": None,
            "idsVersion": "",
            "idsSerialNo": "",
            "idsChecksum": None,
            "creationTime": created,
            "onlineStatus": int(online),
            "lastUpdateTime": last_update,
            "lastServerId": self._server["id"],
            "lastServerName": self._server["name"],
            "lastSiteId": self._site_id,
            "lastSiteName": "My Site",
            "attributeExtension": "",
            "fullName": "",
            "email": "",
            "jobTitle": "",
            "department": "",
            "employeeNumber": "",
            "employeeStatus": "",
            "officePhone": "",
            "mobilePhone": "",
            "homePhone": "",
            "agentTimeStamp": last_update,
            "agentUsn": rng.randint(100_000, 999_999),
            "patternIdx": hashlib.md5(yymmdd.encode() + bytes([revision])).hexdigest().upper(),
            "apOnOff": _auto_protect(rng),
            "infected": int(infected),
            "worstInfectionIdx": rng.choice(_INFECTION_INDEXES) if infected else "9999",
            "lastScanTime": last_scan,
            "lastVirusTime": max(created, last_update - rng.randint(10 * MINUTE, 10 * DAY)) if infected else 0,
            "contentUpdate": 1,
            "avEngineOnOff": 0 if rng.random() < 0.005 else 1,
            "avDefsetVersion": f"{yymmdd}{revision:03d}",
            "avDefsetSequence": str(225331 + (defs_day.date() - date(2023, 1, 5)).days * 19 + revision),
            "avDefsetRevision": str(revision),
            "tamperOnOff": 2 if os_.linux else (0 if rng.random() < 0.01 else 1),
            "majorVersion": int(running.split(".")[0]),
            "minorVersion": int(running.split(".")[1]),
            "rebootRequired": int(reboot),
            "rebootReason": "Remediation of a security risk requires a restart." if reboot else "",
            "licenseStatus": -1,
            "licenseExpiry": 0,
            "timeZone": 0 if server else rng.choice((300, 300, 360, 480, 0, -60)),
            "firewallOnOff": 2 if os_.linux else (0 if rng.random() < 0.015 else 1),
            "freeMem": rng.randint(memory_gib * 2**30 // 10, memory_gib * 2**30 // 2),
            "freeDisk": rng.randint(disk_mb * 2**20 // 20, disk_mb * 2**20 * 3 // 4),
            "lastDownloadTime": downloaded,
            "currentClientId": f"{_hex(rng, 8)}{self._site}{computer_part}{_hex(rng, 8)}",
            "licenseId": None,
            "isGrace": 0,
            "snacLicenseId": None,
            "ptpOnOff": windows_only,
            "lastHeuristicThreatTime": 0,
            "bashStatus": 2 if os_.linux else (0 if rng.random() < 0.01 else 1),
            "daOnOff": windows_only,
            "cidsDrvOnOff": windows_only,
            "cidsSilentMode": 0,
            "cidsDrvMulfCode": 0,
            "cidsBrowserIeOnOff": windows_only,
            "cidsBrowserFfOnOff": windows_only,
            "cidsEngineVersion": "17.2.11.37",
            "cidsDefsetVersion": f"{yymmdd}{revision + 60:03d}",
            "behavioralAnalysisDefsetVersion": f"{yymmdd}001",
            "elamOnOff": windows_only,
            "osElamStatus": 0,
            "tdadOnOff": 3,
            "tdadStatusId": 127,
            "tdadGlobalDataDownloadTime": 0,
            "tdadGlobalDataProcessingDoneTime": 0,
            "vsicStatus": 3,
            "isNpvdiClient": 0,
            "svaId": None,
            "lastConnectedIpAddr": ipv4,
            "pepOnOff": windows_only,
            "edrStatus": 0,
            "atpServer": "",
            "tpmDevice": "0",
            "dhcpServer": "0.0.0.0" if server else "10.1.0.5",
            "computerTimeStamp": max(created, last_update - rng.randint(0, 6 * HOUR)),
            "computerUsn": rng.randint(100_000, 999_999),
            "diskDrive": "C:\\" if os_.windows else "/",
            "hypervisorVendorId": "1" if virtual else "0",
            "kernel": os_.kernel,
            "bwf": 2,
            "fbwf": 2,
            "uwf": 2,
            "telemetryMid": _guid(rng),
            "telemetryHwid": _guid(rng),
            "wssStatus": 3,
            "pskVersion": 0,
        }
        if self.legacy_os_keys:
            for key in _NOT_IN_LEGACY:
                del record[key]
            for legacy, modern in _LEGACY_DUPLICATES.items():
                record[legacy] = record[modern]
        return record


def _offline_age(rng: random.Random) -> int:
    """How long ago an offline machine last checked in: mostly hours, some days, a few weeks."""
    draw = rng.random()
    if draw < 0.55:
        return rng.randint(2 * HOUR, 2 * DAY)
    if draw < 0.85:
        return rng.randint(2 * DAY, 7 * DAY)
    return rng.randint(8 * DAY, 60 * DAY)


def _definitions_age(rng: random.Random) -> int:
    """Age of the newest definitions a machine could have; offline machines add their own staleness."""
    draw = rng.random()
    if draw < 0.008:
        return rng.randint(31 * DAY, 120 * DAY)
    if draw < 0.03:
        return rng.randint(8 * DAY, 30 * DAY)
    return rng.randint(1 * HOUR, 44 * HOUR)


def _auto_protect(rng: random.Random) -> int:
    """apOnOff: 0 off, 4 malfunctioning (together ~3%), 3 disabled by policy, 127 not reported, else 1."""
    draw = rng.random()
    if draw < 0.02:
        return 0
    if draw < 0.03:
        return 4
    if draw < 0.07:
        return 3
    if draw < 0.09:
        return 127
    return 1


class SepmSimulator:
    """The server-side state a test can inspect or poke: fleet, account, live tokens, request log."""

    def __init__(self, fleet: SepmFleet | None = None, *, username: str = DEMO_USERNAME,
                 password: str = DEMO_PASSWORD, token_ttl: int = 43199) -> None:
        self.fleet = fleet if fleet is not None else SepmFleet()
        self.username = username
        self.password = password
        self.token_ttl = token_ttl
        self.requests: list[tuple[str, str]] = []
        self.faults = FaultPlan()
        self._tokens: dict[str, float] = {}
        self._client_id = str(uuid.uuid4())
        self._client_secret = str(uuid.uuid4())

    @property
    def version(self) -> dict[str, str]:
        """What GET /version answers: a 14.2 RU1 server for a legacy fleet, else 14.3 RU9."""
        return dict(_LEGACY_VERSION if self.fleet.legacy_os_keys else _VERSION)

    def authenticate(self, username: str, password: str, domain: str) -> dict[str, Any] | None:
        """The UserToken body for good credentials (seed document shape), None for bad ones."""
        if (username, password) != (self.username, self.password) or domain not in ("", "Default"):
            return None
        token = str(uuid.uuid4())
        self._tokens[token] = time.monotonic() + self.token_ttl
        return {
            "domain": "Default",
            "refreshToken": str(uuid.uuid4()),
            "refreshTokenExpiration": self.token_ttl,
            "role": {"bitMask": 8, "title": "sysadmin"},
            "adminId": ADMIN_ID,
            "clientId": self._client_id,
            "clientSecret": self._client_secret,
            "bannerTitle": "",
            "bannerText": "",
            "username": username,
            "fullname": None,
            "token": token,
            "tokenExpiration": self.token_ttl,
            "permissionSet": {"reportingRights": True, "groupRights": True, "siteRights": True,
                              "remoteCommandRights": True, "policyRights": True},
            "domainid": self.fleet.domain["id"],
        }

    def token_valid(self, token: str) -> bool:
        return self._tokens.get(token, 0.0) > time.monotonic()

    def logout(self, token: str) -> None:
        self._tokens.pop(token, None)

    def expire_tokens(self) -> None:
        """Invalidate every issued token, as a server restart or a long pause would."""
        self._tokens.clear()

    @cached_property
    def hash_actions(self) -> SepmHashActions:
        """Fingerprint lists, lockdown assignments and the command queue, made on first use."""
        return SepmHashActions(self.fleet)


class _ApiError(Exception):
    """An error SEPM reports as its JSON error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_UNAUTHORIZED = ("The user that is currently logged on has insufficient rights to execute the web method, "
                 "or the user is unauthorized.")
_TOMCAT_DESCRIPTIONS = {
    404: "The origin server did not find a current representation for the target resource or is not willing "
         "to disclose that one exists.",
    405: "The method received in the request-line is known by the origin server but not supported by the "
         "target resource.",
    500: "The server encountered an unexpected condition that prevented it from fulfilling the request.",
}


def _error(status: int, message: str) -> JSONResponse:
    body = {"errorCode": str(status), "appErrorCode": "", "errorMessage": message}
    return JSONResponse(body, status_code=status)


def _tomcat_page(status: int) -> HTMLResponse:
    """The HTML status page Tomcat answers for paths the API does not know."""
    title = f"HTTP Status {status} \u2013 {HTTPStatus(status).phrase}"
    description = _TOMCAT_DESCRIPTIONS.get(status, HTTPStatus(status).description)
    page = (
        f'<!doctype html><html lang="en"><head><title>{title}</title><style type="text/css">'
        "body {font-family:Tahoma,Arial,sans-serif;} h1, h2, h3, b {color:white;background-color:#525D76;} "
        "h1 {font-size:22px;} h2 {font-size:16px;} h3 {font-size:14px;} p {font-size:12px;} a {color:black;} "
        ".line {height:1px;background-color:#525D76;border:none;}</style></head>"
        f'<body><h1>{title}</h1><hr class="line" /><p><b>Type</b> Status Report</p>'
        f'<p><b>Description</b> {description}</p><hr class="line" /><h3>Apache Tomcat</h3></body></html>'
    )
    return HTMLResponse(page, status_code=status, headers={"content-language": "en"})


def _simulator(request: Request) -> SepmSimulator:
    simulator: SepmSimulator = request.app.state.simulator  # starlette's app state is untyped
    return simulator


def _authenticated(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Answer 401 with SEPM's error body unless the request carries a live bearer token."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not _simulator(request).token_valid(token.strip()):
            return _error(401, _UNAUTHORIZED)
        return await endpoint(request)

    return guarded


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise _ApiError(400, f"Invalid value '{raw}' for parameter {name}") from None


def _paging(request: Request, default_size: int) -> tuple[int, int]:
    """(pageIndex, pageSize) from the query: 1-based index, size capped at MAX_PAGE_SIZE."""
    index = _int_param(request, "pageIndex", 1)
    size = _int_param(request, "pageSize", default_size)
    if index < 1:
        raise _ApiError(400, "The page index must be greater than 0")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise _ApiError(400, f"The page size must be between 1 and {MAX_PAGE_SIZE}")
    return index, size


def _page(items: list[Any], index: int, size: int, total: int, sort: str, ascending: bool) -> dict[str, Any]:
    """SEPM's page object (fact sheet section 4), in the key order a 14.3 server uses."""
    total_pages = -(-total // size)
    number = index - 1
    return {
        "content": items,
        "totalPages": total_pages,
        "firstPage": number == 0,
        "lastPage": number + 1 >= total_pages,
        "totalElements": total,
        "size": size,
        "number": number,
        "sort": [{"direction": "ASC" if ascending else "DESC", "property": sort, "ascending": ascending}],
        "numberOfElements": len(items),
    }


async def version(request: Request) -> Response:
    return JSONResponse(_simulator(request).version)


async def authenticate(request: Request) -> Response:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("application/json"):
        return _error(500, f"Content type '{content_type}' not supported")
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "The request body is not valid JSON")
    if not isinstance(body, dict) or not all(isinstance(body.get(key), str) for key in ("username", "password")):
        return _error(400, "The request body must contain username, password and domain")
    token = _simulator(request).authenticate(body["username"], body["password"], str(body.get("domain") or ""))
    if token is None:
        return _error(401, "Invalid user name or password")
    return JSONResponse(token)


@_authenticated
async def logout(request: Request) -> Response:
    _simulator(request).logout(request.headers["authorization"].partition(" ")[2].strip())
    return Response(status_code=204)


@_authenticated
async def list_groups(request: Request) -> Response:
    index, size = _paging(request, default_size=25)
    groups = sorted(_simulator(request).fleet.groups, key=lambda group: group["fullPathName"].casefold())
    wanted = request.query_params.get("fullPathName")
    if wanted is not None:
        groups = [group for group in groups if group["fullPathName"].casefold() == wanted.casefold()]
    start = (index - 1) * size
    return JSONResponse(_page(groups[start:start + size], index, size, len(groups), "NAME", True))


def _group_position(request: Request) -> int:
    group_id = request.path_params["group_id"]
    position = _simulator(request).fleet._group_position.get(group_id)
    if position is None:
        raise _ApiError(410, f"Group with ID {group_id} do not exist")
    return position


@_authenticated
async def get_group(request: Request) -> Response:
    return JSONResponse(_simulator(request).fleet.groups[_group_position(request)])


_COMPUTER_SORTS = ("COMPUTER_NAME", "COMPUTER_ID", "COMPUTER_DOMAIN_NAME", "DOMAIN_ID")


def _computers_page(request: Request, group: int | None) -> JSONResponse:
    """A page of computer records, optionally limited to one group's direct members."""
    fleet = _simulator(request).fleet
    query = request.query_params
    index, size = _paging(request, default_size=20)
    sort = query.get("sort", "COMPUTER_NAME").upper()
    if sort not in _COMPUTER_SORTS:
        sort = "COMPUTER_NAME"
    ascending = query.get("order", "ASC").upper() != "DESC"

    if "computer_id" in query:
        found = fleet.find(query["computer_id"])
        selected: range | list[int] = [] if found is None else [found]
    else:
        # One domain only, so both domain sorts fall back to name order.
        selected = fleet._order(by_unique_id=sort == "COMPUTER_ID")
        if group is not None:
            selected = [i for i in selected if fleet._group[i] == group]
        pattern = query.get("computerName")
        if pattern:
            matcher = re.compile(".*".join(map(re.escape, pattern.split("*"))), re.IGNORECASE)
            selected = [i for i in selected if matcher.fullmatch(fleet.name(i))]
    if not ascending:
        selected = selected[::-1]
    start = (index - 1) * size
    records = [fleet.computer(i) for i in selected[start:start + size]]
    return JSONResponse(_page(records, index, size, len(selected), sort, ascending))


@_authenticated
async def list_computers(request: Request) -> Response:
    return _computers_page(request, group=None)


@_authenticated
async def list_group_computers(request: Request) -> Response:
    return _computers_page(request, group=_group_position(request))


class _RecordAndReject:
    """Log every request for tests, and reject `//` in a path the way SEPM's Spring Security does."""

    def __init__(self, app: ASGIApp, simulator: SepmSimulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.simulator.requests.append((scope["method"], scope["path"]))
            if "//" in scope["path"]:
                await _tomcat_page(500)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _ApiError)
    return _error(exc.status, exc.message)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _tomcat_page(exc.status_code)


def create_app(simulator: SepmSimulator | None = None) -> Starlette:
    """The SEPM API as an ASGI app; `app.state.simulator` is the state behind it."""
    simulator = simulator if simulator is not None else SepmSimulator()
    api = [
        Route("/version", version, methods=["GET"]),
        Route("/identity/authenticate", authenticate, methods=["POST"]),
        Route("/identity/logout", logout, methods=["POST"]),
        Route("/groups", list_groups, methods=["GET"]),
        Route("/groups/{group_id}", get_group, methods=["GET"]),
        Route("/groups/{group_id}/computers", list_group_computers, methods=["GET"]),
        Route("/computers", list_computers, methods=["GET"]),
    ]
    api += hash_action_routes()
    api += event_routes()
    app = Starlette(
        routes=[Mount(BASE_PATH, routes=api)],
        middleware=[
            Middleware(_RecordAndReject, simulator=simulator),
            Middleware(FaultInjector, plan=simulator.faults, expire_tokens=simulator.expire_tokens),
        ],
        exception_handlers={_ApiError: _on_api_error, HTTPException: _on_http_error},
    )
    app.state.simulator = simulator
    return app


# --- fingerprint lists, system lockdown and the command queue (issue 5) -----------------------------------
#
# Fact sheet sections 8, 9 and 12, seeds 000 and 001. Simulated time: every request to /command-queue
# advances the simulator's clock by `tick_ms` (5 s by default; `advance()` moves it by hand), so a command
# moves through its states as it is polled, identically on every run.


class DemoFile(NamedTuple):
    """A harmless file that some simulated Windows computers hold, for trying hash searches and fetches."""

    key: str
    path: str
    content: bytes
    md5: str
    sha1: str
    sha256: str
    kinds: frozenset[str]
    """The group kinds (desktop, laptop, server) whose Windows computers may hold it."""
    per_mille: int
    """How many of a thousand such computers hold it."""

    @property
    def size(self) -> int:
        return len(self.content)

    def hashes(self) -> dict[str, str]:
        return {"MD5": self.md5, "SHA1": self.sha1, "SHA256": self.sha256}


DEMO_FILES = (
    DemoFile("dropper", "C:\\Users\\Public\\Downloads\\Invoice_2026-11.pdf.exe",
             b"Endpoint Explorer demo file 1: a pretend invoice dropper. Harmless.\n",
             "DA1A8A89467B0E326DEB152C3944E979", "631262CAF3AAAD6670FC33181B8D4C2E6CD7705C",
             "8BB6670C221886570AF2F8BDAA57A62779C77707D50E1BF84A7C1609907C659A",
             frozenset({"desktop", "laptop"}), 60),
    DemoFile("dumper", "C:\\Windows\\Temp\\svchost32.exe",
             b"Endpoint Explorer demo file 2: a pretend credential dumper. Harmless.\n",
             "79B287A0B2057844B13243A08C81A5CE", "F3C5970A80288157826BB12E3872FCB743BACC19",
             "B57893A39D26A941A16BB33D95F3390D049A9B6123942CDF081EB738DAD30A15",
             frozenset({"server"}), 150),
    DemoFile("rat", "C:\\ProgramData\\RemoteHelper\\RemoteHelper.dll",
             b"Endpoint Explorer demo file 3: a pretend remote-access tool. Harmless.\n",
             "5681632ED639609C0F120BC896C36F24", "75D76F36EC2F5889994ADB3C1F8761DCA0A3C920",
             "2D7747AED86FEBC327A2472A770774563ED770CEB220AAB4D80068A777FDBFCC",
             frozenset({"desktop", "laptop", "server"}), 20),
)
"""The demo hashes (README "Fingerprint lists and hash actions"). Every computer of "My Company\\Quarantine"
holds the dropper; otherwise a computer holds a file when a hash of its detail seed falls under `per_mille`."""

SEED_WHITELIST: dict[str, Any] = {
    "id": "20F543E30ADA144447A5FAAA370633DF", "name": "Whitelist", "hashType": None, "source": None,
    "description": "",
    "data": ["1F1DB67B07175194CE17ACAADC1B6AF5", "2B026E4B17034FE53BF3E660A61666FC",
             "3D5FFCC5C2709DF095D1F1CC8AE9747F", "570D47645E35D68B3985098BB98A357B",
             "A1E419B82CD4C6B60C1A5A0B7336DB3A", "BE13A88AE7196C1FE69314F328583162",
             "C2854A94987062EF750D72DC5525F0D8", "C9524B84BE07A1FF9DCF6BA12F76C4E4",
             "D17449D456CD8A3CBCB318C86B2B5156", "E0758A56E04D50EBEDB6DEB35D035855",
             "F4C9381A3B265EC5F1CEF1DEC638E0E9"],
    "groupIds": [],
}
"""The list of the vendor's reference (seed 000), as it shows it."""
SEED_BLACKLIST: dict[str, Any] = {
    "id": "B5F9985ED6C449A6905A0D570A5733FC", "name": "Blacklist", "hashType": "MD5", "source": "WEBSERVICE",
    "description": "Hash of type Malware MD5 Hash", "data": ["582F9B6E0CC4C1DBBD772AAAF088CB3A"], "groupIds": [],
}
"""The list captured from a 14.2 server (fact sheet 8.3)."""
DEMO_BLOCKLIST_NAME = "Demo Blocklist"
LOCKDOWN_DISABLED_GROUP = "My Company\\Servers\\Domain Controllers"
"""System lockdown is off in this group: assigning a list to it answers 422."""

STATE_INITIAL, STATE_RECEIVED, STATE_IN_PROGRESS, STATE_COMPLETED, STATE_REJECTED, STATE_CANCELLED, STATE_ERROR = range(7)
_HASH_DIGITS = {"MD5": 32, "SHA1": 40, "SHA256": 64}
_LIST_HASH_TYPES = ("MD5", "SHA256")
_FILE_SOURCES = ("FILESYSTEM", "QUARANTINE", "BOTH")
_SECOND = 1000


_Outcome = tuple[int, int, str, str | None, str | None]
"""(state, sub-state, description, binaryFileId, resultInXML) of a computer's part in a command."""


class _Queued:
    """One command in the queue: what it does, on which computers (fleet indexes), and when."""

    def __init__(self, command_id: str, kind: str, created_ms: int, targets: list[int], serial: int) -> None:
        self.id = command_id
        self.kind = kind
        self.created_ms = created_ms
        self.targets = targets
        self.target_set = frozenset(targets)
        self.serial = serial
        self.cancelled_ms: int | None = None
        self.request: ElementTree.Element | None = None
        self.hashes: list[tuple[str, str]] = []
        """(type, value as sent) of every searched file, in request order."""
        self.remediate = False
        self.file_path = ""
        self.file_hash: tuple[str, str] = ("", "")
        self.source = "FILESYSTEM"


class SepmHashActions:
    """Fingerprint lists, lockdown assignments and the command queue of one simulated SEPM.

    Deterministic: ids come from a generator seeded with the fleet's seed, and a command's progress on
    each computer from the command's serial number and the computer, against the simulated clock.
    """

    def __init__(self, fleet: SepmFleet, *, tick_ms: int = 5 * _SECOND) -> None:
        self.fleet = fleet
        self.tick_ms = tick_ms
        self.elapsed_ms = 0
        self._rng = Draw(f"sepm-hash-actions:{fleet.seed}")
        self.lists: dict[str, dict[str, Any]] = {}
        self.locked_groups: set[str] = set()
        """Group ids whose policy is locked (423 on a lockdown assignment); tests add to it."""
        by_path = {group["fullPathName"]: group["id"] for group in fleet.groups}
        self.lockdown_disabled: set[str] = {by_path[LOCKDOWN_DISABLED_GROUP]}
        self.commands: dict[str, _Queued] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self._facts: dict[int, dict[str, Any]] = {}
        self._removed: dict[tuple[str, int, str], bool] = {}
        for record in (SEED_WHITELIST, SEED_BLACKLIST):
            self.lists[record["id"]] = copy.deepcopy(record)
        blocklist_id = self.new_id()
        self.lists[blocklist_id] = {
            "id": blocklist_id, "name": DEMO_BLOCKLIST_NAME, "hashType": "SHA256", "source": "WEBSERVICE",
            "description": "Demo: files seen in incident IR-2026-11",
            "data": [DEMO_FILES[0].sha256, DEMO_FILES[1].sha256],
            "groupIds": [by_path["My Company\\Quarantine"]],
        }

    # clock and ids

    @property
    def now_ms(self) -> int:
        return self.fleet.now_ms + self.elapsed_ms

    def tick(self) -> None:
        self.elapsed_ms += self.tick_ms

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward (tests; `tick_ms = 0` stops it moving on its own)."""
        self.elapsed_ms += int(seconds * _SECOND)

    def new_id(self) -> str:
        return _hex(self._rng, 32)

    # fingerprint lists

    def list_named(self, name: str) -> dict[str, Any]:
        wanted = name.casefold()
        for record in self.lists.values():
            if record["name"].casefold() == wanted:
                return record
        raise _ApiError(410, f"Fingerprint list with ID {name} do not exist")

    def list_by_id(self, list_id: str) -> dict[str, Any]:
        record = self.lists.get(list_id.upper())
        if record is None:
            raise _ApiError(410, f"Fingerprint list with ID {list_id} do not exist")
        return record

    def _checked_payload(self, body: Any, *, creating: bool, current: dict[str, Any] | None = None) -> dict[str, Any]:
        """A `BlacklistPayloadString`, validated as SEPM does (400 with its message), hashes upper-cased."""
        previous = current or {}  # the list an update changes; read only when not creating
        if not isinstance(body, dict):
            raise _ApiError(400, "The request body must be a fingerprint list")
        name = body.get("name", None if creating else previous["name"])
        if not isinstance(name, str) or not name.strip():
            raise _ApiError(400, "The fingerprint list name is required")
        hash_type = body.get("hashType", None if creating else previous["hashType"])
        data = body.get("data", [] if creating else previous["data"])
        if hash_type is None and not creating and previous["hashType"] is None:
            hash_type = "MD5"  # the reference's own list has no type; its hashes are MD5
        if hash_type not in _LIST_HASH_TYPES:
            raise _ApiError(400, f"Invalid hash type {hash_type}; use MD5 or SHA256")
        if not isinstance(data, list):
            raise _ApiError(400, "The fingerprint list data must be a list of hashes")
        for value in data:
            if not isinstance(value, str) or len(value) != _HASH_DIGITS[hash_type] or not _is_hex(value):
                raise _ApiError(400, f"Invalid {hash_type} hash value {str(value)[:80]}")
        description = body.get("description", "" if creating else previous["description"])
        domain_id = body.get("domainId")
        if domain_id not in (None, "", self.fleet.domain["id"]):
            raise _ApiError(410, f"Domain with ID {domain_id} do not exist")
        clashes = [record for record in self.lists.values()
                   if record["name"].casefold() == name.strip().casefold() and record is not current]
        if clashes:
            raise _ApiError(409, "File Figerprint already exists")  # sic: the spec's message
        return {"name": name.strip(), "hashType": hash_type, "description": str(description or ""),
                "data": list(dict.fromkeys(value.upper() for value in data))}

    def create_list(self, body: Any) -> str:
        payload = self._checked_payload(body, creating=True)
        list_id = self.new_id()
        self.lists[list_id] = {"id": list_id, "name": payload["name"], "hashType": payload["hashType"],
                               "source": "WEBSERVICE", "description": payload["description"],
                               "data": payload["data"], "groupIds": []}
        return list_id

    def update_list(self, list_id: str, body: Any) -> None:
        """Replace the list: what is sent is what is kept (fields left out keep their value)."""
        record = self.list_by_id(list_id)
        record.update(self._checked_payload(body, creating=False, current=record))

    def delete_list(self, list_id: str) -> None:
        del self.lists[self.list_by_id(list_id)["id"]]

    def assign(self, group_id: str, list_id: str) -> None:
        record = self.lists.get(list_id.upper())
        if record is None:
            raise _ApiError(400, f"The fingerprint list {list_id} is not valid")
        if group_id not in self.fleet._group_position:
            raise _ApiError(410, f"Group with ID {group_id} do not exist")
        if group_id in self.locked_groups:
            raise _ApiError(423, "The group is locked by another administrator")
        if group_id in self.lockdown_disabled:
            raise _ApiError(422, "System lockdown is currently disabled for this group")
        if group_id in record["groupIds"]:
            raise _ApiError(422, "The file fingerprint list is already assigned to this group")
        record["groupIds"].append(group_id)

    # the fleet's files

    def _holds_at_start(self, index: int, demo: DemoFile) -> bool:
        fleet = self.fleet
        spec = _GROUP_SPECS[fleet._group[index]]
        if not _OSES[_OS_KEYS[fleet._os[index]]].windows:
            return False
        if demo.key == "dropper" and spec.tag == "QRT":
            return True
        if spec.kind not in demo.kinds:
            return False
        return zlib.crc32(f"{demo.key}:{fleet._detail_seed[index]}".encode()) % 1000 < demo.per_mille

    def holders(self, demo: DemoFile) -> list[int]:
        """The fleet indexes of the computers that held `demo` when the fleet was made."""
        return [index for index in range(self.fleet.size) if self._holds_at_start(index, demo)]

    def holds(self, index: int, demo: DemoFile, at_ms: int) -> bool:
        """The computer has the file on disk at `at_ms`: it held it, and no earlier scan deleted it."""
        return self._holds_at_start(index, demo) and not self._deleted_before(index, demo, at_ms)

    def _deleted_before(self, index: int, demo: DemoFile, at_ms: int) -> bool:
        for command in self.commands.values():
            if command.kind != "eoc" or not command.remediate or command.created_ms >= at_ms:
                continue
            if index not in command.target_set:
                continue
            row = self._timeline(command, index)
            if row["finish"] >= at_ms or not self._finishes(command, row):  # strictly before: no cycles
                continue
            if self._deletes(command, index, demo):
                return True
        return False

    def _deletes(self, command: _Queued, index: int, demo: DemoFile) -> bool:
        """This remediating scan found `demo` on the computer and deleted it (memoised: scans chain)."""
        key = (command.id, index, demo.key)
        if key not in self._removed:
            row = self._timeline(command, index)
            outcome = self._eoc_outcome(command, index, row) if not (row["error"] or row["rejected"]) else None
            self._removed[key] = outcome is not None and any(
                found is demo and remediation == "SUCCEEDED" for found, _, remediation in outcome["matches"])
        return self._removed[key]

    # the command queue

    def queue(self, kind: str, targets: list[int]) -> _Queued:
        command = _Queued(self.new_id(), kind, self.now_ms, targets, len(self.commands) + 1)
        self.commands[command.id] = command
        return command

    def command(self, command_id: str) -> _Queued:
        command = self.commands.get(command_id.upper())
        if command is None:
            raise _ApiError(410, f"Command with ID {command_id} do not exist")
        return command

    def cancel(self, command_id: str) -> _Queued:
        command = self.command(command_id)
        if command.cancelled_ms is None:
            command.cancelled_ms = self.now_ms
        return self.queue("cancel", list(command.targets))

    def group_members(self, group_id: str) -> list[int]:
        """The computers of a group and of its sub-groups (fleet indexes, name order)."""
        position = self.fleet._group_position.get(group_id)
        if position is None:
            raise _ApiError(410, f"Group with ID {group_id} do not exist")
        path = self.fleet.groups[position]["fullPathName"]
        positions = {number for number, group in enumerate(self.fleet.groups)
                     if group["fullPathName"] == path or group["fullPathName"].startswith(path + "\\")}
        return [index for index in range(self.fleet.size) if self.fleet._group[index] in positions]

    def _computer_facts(self, index: int) -> dict[str, Any]:
        facts = self._facts.get(index)
        if facts is None:
            record = self.fleet.computer(index)
            facts = {key: record[key] for key in ("computerName", "uniqueId", "hardwareKey", "logonUserName",
                                                   "onlineStatus")}
            facts["ip"] = record["ipAddresses"][0]
            facts["windows"] = _OSES[_OS_KEYS[self.fleet._os[index]]].windows
            facts["server"] = _GROUP_SPECS[self.fleet._group[index]].kind == "server"
            self._facts[index] = facts
        return facts

    def _timeline(self, command: _Queued, index: int) -> dict[str, Any]:
        """When the computer receives, starts and finishes the command (ms on the simulated clock)."""
        rng = Draw(f"{self.fleet.seed}:{command.serial}:{index}")
        facts = self._computer_facts(index)
        if command.kind == "cancel":
            receive = rng.randint(1, 5) * _SECOND
            start = receive
            finish = start + rng.randint(1, 3) * _SECOND
        else:
            receive = rng.randint(2, 20) * _SECOND if facts["onlineStatus"] else rng.randint(60, 240) * _SECOND
            start = receive + rng.randint(2, 10) * _SECOND
            finish = start + rng.randint(10, 90) * _SECOND
        rejected = command.kind == "eoc" and not facts["windows"]
        if rejected:  # refused as soon as it arrives
            start = finish = receive
        created = command.created_ms
        return {"receive": created + receive, "start": created + start, "finish": created + finish,
                "rejected": rejected, "error": rng.random() < 0.02, "remediation_fails": rng.random() < 0.15}

    def _finishes(self, command: _Queued, row: dict[str, Any]) -> bool:
        """The computer finishes the command instead of hearing of its cancellation first."""
        return command.cancelled_ms is None or command.cancelled_ms >= row["finish"]

    def _eoc_outcome(self, command: _Queued, index: int, row: dict[str, Any]) -> dict[str, Any]:
        """For each searched hash: the demo file it names that the computer holds, its path, remediation."""
        matches = []
        for hash_type, value in command.hashes:
            found = next((demo for demo in DEMO_FILES if demo.hashes().get(hash_type) == value.upper()
                          and self.holds(index, demo, row["finish"])), None)
            remediation = None
            if found is not None and command.remediate:
                if hash_type == "SHA1":
                    remediation = "UNSUPPORTED"  # deleting by SHA-1 needs a full Power Eraser scan first
                else:
                    remediation = "FAILED" if row["remediation_fails"] else "SUCCEEDED"
            matches.append((found, (hash_type, value), remediation))
        return {"matches": matches}

    def status_rows(self, command: _Queued, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """The targets' `CommandStatusDetail` rows (all, or `start:stop`) as they stand now (fact sheet 9.4,
        in the key order of the 14.2 capture)."""
        return [self._status_row(command, index) for index in command.targets[start:stop]]

    def _status_row(self, command: _Queued, index: int) -> dict[str, Any]:
        now = self.now_ms
        facts = self._computer_facts(index)
        row = self._timeline(command, index)
        state, sub_state, description, file_id, result = STATE_INITIAL, 0, None, None, None
        begin = last = None
        cancelled = not self._finishes(command, row)
        if cancelled and command.cancelled_ms is not None and now >= command.cancelled_ms:
            state, description = STATE_CANCELLED, ""
            begin = row["receive"] if row["receive"] <= command.cancelled_ms else None
            last = command.cancelled_ms
        elif now >= row["finish"] and row["rejected"]:
            state, sub_state, description = STATE_REJECTED, 1, "EOC scans run on Windows clients only"
            begin = last = row["receive"]
        elif now >= row["finish"]:
            begin, last = row["receive"], row["finish"]
            state, sub_state, description, file_id, result = self._finished(command, index, row)
        elif now >= row["start"]:
            state, begin, last, description = STATE_IN_PROGRESS, row["receive"], row["start"], ""
        elif now >= row["receive"]:
            state, begin, last, description = STATE_RECEIVED, row["receive"], row["receive"], ""
        return {
            "computerName": facts["computerName"],
            "subStateId": sub_state,
            "binaryFileId": file_id,
            "lastUpdateTime": _iso(last),
            "domainName": self.fleet.domain["name"],
            "hardwareKey": facts["hardwareKey"],
            "subStateDesc": description,
            "stateId": state,
            "computerId": facts["uniqueId"],
            "computerIp": facts["ip"],
            "beginTime": _iso(begin),
            "currentLoginUserName": facts["logonUserName"],
            "resultInXML": result,
        }

    def _finished(self, command: _Queued, index: int, row: dict[str, Any]) -> _Outcome:
        """(state, sub-state, description, binaryFileId, resultInXML) of a computer that finished."""
        if command.kind == "cancel":
            return STATE_COMPLETED, 0, "", None, None
        if row["error"] and command.kind in RESPONSE_COMMANDS:
            return STATE_ERROR, 6, "Unexpected error", None, None
        if row["error"]:
            return STATE_ERROR, 105, "The scan did not return a status", None, None
        if command.kind in RESPONSE_COMMANDS:
            return STATE_COMPLETED, 0, "", None, None
        if command.kind == "fetch":
            return self._fetched(command, index, row)
        outcome = self._eoc_outcome(command, index, row)
        assert command.request is not None  # an EOC command is queued with its request
        result = copy.deepcopy(command.request)
        entries = list(result.iter("File"))
        for entry, (found, (hash_type, value), remediation) in zip(entries, outcome["matches"]):
            attrs = {"result": "NO_MATCH"}
            if found is not None:
                attrs = {"result": "HASH_MATCH", "hashType": hash_type, "hashValue": value, "value": found.path}
                if remediation:
                    attrs["remediation"] = remediation
            ElementTree.SubElement(entry, "Matched", attrs)
        any_match = any(found is not None for found, _, _ in outcome["matches"])
        return (STATE_COMPLETED, 101 if any_match else 0, "", None,
                ElementTree.tostring(result, encoding="unicode"))

    def _fetched(self, command: _Queued, index: int, row: dict[str, Any]) -> _Outcome:
        hash_type, value = command.file_hash
        for demo in DEMO_FILES:
            if demo.hashes().get(hash_type) != value or demo.path.casefold() != command.file_path.casefold():
                continue
            on_disk = self.holds(index, demo, row["finish"])
            quarantined = self._holds_at_start(index, demo) and not on_disk
            if (on_disk and command.source != "QUARANTINE") or (quarantined and command.source != "FILESYSTEM"):
                file_id = hashlib.md5(f"{command.id}:{index}".encode()).hexdigest().upper()
                self.files[file_id] = {"id": file_id, "fileSize": demo.size,
                                       "checksum": hashlib.md5(demo.content).hexdigest().upper()}
                return STATE_COMPLETED, 0, "", file_id, None
        return STATE_ERROR, 6, "The file was not found on the client", None, None


def _is_hex(text: str) -> bool:
    return bool(text) and all(char in "0123456789abcdefABCDEF" for char in text)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else _utc(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def _actions(request: Request) -> SepmHashActions:
    return _simulator(request).hash_actions


def _id_list(request: Request, name: str) -> list[str]:
    """Ids from a query parameter, comma-joined (Splunk) or repeated (IBM), as SEPM takes both."""
    ids: list[str] = []
    for raw in request.query_params.getlist(name):
        ids.extend(part.strip() for part in raw.split(",") if part.strip())
    return list(dict.fromkeys(ids))


def _require_content_type(request: Request, *accepted: str) -> None:
    """SEPM answers 500, not 415, to a body without the JSON content type (fact sheet section 1)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith(accepted or ("application/json",)):
        raise _ApiError(500, f"Content type '{content_type}' not supported")


async def _json_body(request: Request, *, required: bool) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise _ApiError(400, "The request body is required")
        return None
    _require_content_type(request)
    try:
        return json.loads(raw)
    except ValueError:
        raise _ApiError(400, "The request body is not valid JSON") from None


def _computers(request: Request, ids: list[str]) -> list[int]:
    indexes = []
    for computer_id in ids:
        index = _simulator(request).fleet.find(computer_id)
        if index is None:
            raise _ApiError(410, f"Computer with ID {computer_id} do not exist")
        indexes.append(index)
    return indexes


@_authenticated
async def fingerprints(request: Request) -> Response:
    """GET by name (query, or the JSON body of the reference's example) or POST a new list."""
    actions = _actions(request)
    if request.method == "POST":
        _require_content_type(request)
        return JSONResponse({"id": actions.create_list(await _json_body(request, required=True))})
    name = request.query_params.get("name")
    if name is None:
        body = await _json_body(request, required=False)
        name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise _ApiError(400, "The parameter name is required")
    return JSONResponse(actions.list_named(name))


@_authenticated
async def fingerprint(request: Request) -> Response:
    """GET, POST (replace the whole list) or DELETE one list; changes answer 200 with an empty body."""
    actions = _actions(request)
    list_id = request.path_params["list_id"]
    if request.method == "GET":
        return JSONResponse(actions.list_by_id(list_id))
    if request.method == "POST":
        _require_content_type(request)
        actions.update_list(list_id, await _json_body(request, required=True))
    else:
        actions.delete_list(list_id)
    return Response(status_code=200)


@_authenticated
async def assign_lockdown(request: Request) -> Response:
    group_id, list_id = request.path_params["group_id"], request.path_params["list_id"]
    body = await _json_body(request, required=False)
    if isinstance(body, dict) and (body.get("group_id", group_id) != group_id
                                   or body.get("fingerprint_id", list_id) != list_id):
        raise _ApiError(400, "The ids in the body do not match the ids in the path")
    _actions(request).assign(group_id, list_id)
    return Response(status_code=200)


def _command_targets(request: Request, actions: SepmHashActions) -> list[tuple[str, list[int]]]:
    """The computers a command with `computer_ids` and/or `group_ids` goes to: one command for the computers
    (answered as `commandID_computer`) and one for the groups' members (`commandID_group`)."""
    computer_ids, group_ids = _id_list(request, "computer_ids"), _id_list(request, "group_ids")
    if not computer_ids and not group_ids:
        raise _ApiError(400, "Either computer_ids or group_ids is required")
    computers = _computers(request, computer_ids)
    members = [actions.group_members(group_id) for group_id in group_ids]
    targets = [("commandID_computer", computers)] if computer_ids else []
    if group_ids:
        targets.append(("commandID_group", sorted({index for group in members for index in group})))
    return targets


@_authenticated
async def queue_eoc(request: Request) -> Response:
    actions = _actions(request)
    actions.tick()
    _require_content_type(request, "application/json", "application/xml", "text/xml")
    raw = (await request.body()).decode("utf-8", "replace")
    if re.search(r"<!(?:DOCTYPE|ENTITY)", raw, re.IGNORECASE):
        raise _ApiError(400, "The evidence of compromise command must not declare a DTD")
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        raise _ApiError(400, "The evidence of compromise command is not valid XML") from None
    if root.tag != "EOC":
        raise _ApiError(400, "The evidence of compromise command must be an EOC element")
    hashes = []
    for entry in root.iter("Hash"):
        hash_type, value = (entry.get("name") or "").upper(), entry.get("value") or ""
        if _HASH_DIGITS.get(hash_type) != len(value) or not _is_hex(value):
            raise _ApiError(400, f"Invalid {hash_type or 'hash'} value {value[:80]}")
        hashes.append((hash_type, value))
    answer = {}
    for key, targets in _command_targets(request, actions):
        command = actions.queue("eoc", targets)
        command.request = root
        command.hashes = hashes
        command.remediate = (root.findtext("RemediationAction") or "").strip().upper() == "REMEDIATE"
        answer[key] = command.id
    return JSONResponse(answer)


@_authenticated
async def queue_fetch(request: Request) -> Response:
    actions = _actions(request)
    actions.tick()
    _require_content_type(request)
    query = request.query_params
    computer_ids = _id_list(request, "computer_ids")
    if not computer_ids:
        raise _ApiError(400, "The parameter computer_ids is required")
    file_path = query.get("file_path", "").strip()
    if not file_path:
        raise _ApiError(400, "The parameter file_path is required")
    given = [(kind.upper(), query[kind]) for kind in ("md5", "sha1", "sha256") if query.get(kind)]
    if len(given) != 1:
        raise _ApiError(400, "Give exactly one of md5, sha1 or sha256")
    hash_type, value = given[0]
    if len(value) != _HASH_DIGITS[hash_type] or not _is_hex(value):
        raise _ApiError(400, f"Invalid {hash_type} value {value[:80]}")
    source = query.get("source", "FILESYSTEM").upper()
    if source not in _FILE_SOURCES:
        raise _ApiError(400, f"Invalid source {source}; use FILESYSTEM, QUARANTINE or BOTH")
    command = actions.queue("fetch", _computers(request, computer_ids))
    command.file_path, command.file_hash, command.source = file_path, (hash_type, value.upper()), source
    return JSONResponse({"commandID": command.id})


@_authenticated
async def command_status(request: Request) -> Response:
    actions = _actions(request)
    actions.tick()
    command = actions.command(request.path_params["command_id"])
    index, size = _paging(request, default_size=20)
    start = (index - 1) * size
    rows = actions.status_rows(command, start, start + size)
    return JSONResponse(_page(rows, index, size, len(command.targets), "Begintime", True))


@_authenticated
async def cancel_command(request: Request) -> Response:
    actions = _actions(request)
    actions.tick()
    _require_content_type(request)
    return JSONResponse({"commandID": actions.cancel(request.path_params["command_id"]).id})


@_authenticated
async def file_details(request: Request) -> Response:
    actions = _actions(request)
    actions.tick()
    file_id = request.path_params["file_id"].upper()
    if file_id not in actions.files:
        raise _ApiError(410, f"File with ID {request.path_params['file_id']} do not exist")
    return JSONResponse(actions.files[file_id])


RESPONSE_COMMANDS = ("quarantine", "unquarantine", "activescan", "fullscan", "updatecontent")
"""Commands of fact sheet 9.2 queued like the EOC scan (issue 18). What a computer does with them is not
documented beyond the states every command goes through (KB 229117): here each completes (sub-state 0) or, now
and then, fails (state 6, sub-state 6 "Unexpected error"). Whether SEPM rejects any of them on some clients,
and how a quarantine shows in the computer record, is UNCERTAIN, so nothing of the kind is simulated."""


@_authenticated
async def queue_response_command(request: Request) -> Response:
    """`POST /command-queue/{quarantine|activescan|fullscan|updatecontent}` with `computer_ids` and/or
    `group_ids` (comma-joined or repeated); `undo=true` on quarantine takes computers out of it."""
    actions = _actions(request)
    actions.tick()
    _require_content_type(request)
    kind = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    query = request.query_params
    for flag in ("undo", "power"):
        if query.get(flag, "false").lower() not in ("true", "false"):
            raise _ApiError(400, f"Invalid value {query[flag][:40]} for {flag}; use true or false")
    if "undo" in query and kind != "quarantine":
        raise _ApiError(400, "The parameter undo applies to the quarantine command only")
    if "power" in query and kind not in ("activescan", "fullscan"):
        raise _ApiError(400, "The parameter power applies to scans only")
    if query.get("undo", "").lower() == "true":
        kind = "unquarantine"
    if query.getlist("hardware_ids"):
        raise _ApiError(400, "hardware_ids are not simulated; use computer_ids")  # refused rather than faked
    return JSONResponse({key: actions.queue(kind, targets).id for key, targets in _command_targets(request, actions)})


def hash_action_routes() -> list[Route]:
    """The fingerprint-list, system-lockdown and command-queue routes (under the API base path)."""
    return [
        Route("/policy-objects/fingerprints", fingerprints, methods=["GET", "POST"]),
        Route("/policy-objects/fingerprints/{list_id}", fingerprint, methods=["GET", "POST", "DELETE"]),
        Route("/groups/{group_id}/system-lockdown/fingerprints/{list_id}", assign_lockdown, methods=["PUT"]),
        Route("/command-queue/eoc", queue_eoc, methods=["POST"]),
        *(Route(f"/command-queue/{kind}", queue_response_command, methods=["POST"])
          for kind in ("quarantine", "activescan", "fullscan", "updatecontent")),
        Route("/command-queue/files", queue_fetch, methods=["POST"]),
        Route("/command-queue/file/{file_id}/details", file_details, methods=["GET"]),
        Route("/command-queue/{command_id}", command_status, methods=["GET"]),
        Route("/command-queue/{command_id}/cancel", cancel_command, methods=["POST"]),
    ]


# --- events (issue 6) --------------------------------------------------------------------------------------
#
# Fact sheet section 10 and 9.6. `GET /events/critical` answers every event at once (its paging parameters
# are ignored, as the spec says), in no time order, `eventDateTime` in UTC without a zone, only the
# unacknowledged ones unless `includeAcknowledged=true`; messages carry plain text with `\n`, HTML (`<br/>`)
# or escaped HTML (`&lt;a ...&gt;`), as captured servers send them. `POST /events/acknowledge/{eventID}`
# answers 200 with an empty body (400 for a malformed id, 410 for an unknown one, 500 without the JSON
# content type). The events follow the fleet over the 30 days before its clock: a risk notification for
# each infected computer at its `lastVirusTime` (among the first `RISK_SCAN_LIMIT` computers in name order),
# a client security alert where Auto-Protect is off or failing, regular old-definitions, health, client-list
# and package notifications. `GET /command-queue` (not in the spec: PSSEPM reads it; the shape is our
# choice) lists the command queue of `SepmHashActions`, newest first, `{commandId, commandType, beginTime,
# binaryFileId}`, after seeding it once with Evidence of Compromise scans and file fetches of the demo files
# over the same 30 days, so the history's rows come from the same machinery as live commands.
# `SepmEventLog.critical_readable = False` makes both event calls answer 401 as for an administrator
# without the right; `history = "missing"` or `"forbidden"` makes the listing a Tomcat 404 or a 401.

RISK_SCAN_LIMIT = 20_000
EVENT_DAYS = 30
_SERVER_UTC_OFFSET_H = -7
"""The simulated manager's local zone (PDT), in which it writes "Status reported on ..." inside messages."""
_RISKS = ("Trojan.Gen.MBT", "Trojan.Emotet", "W32.Qakbot", "Ransom.Lockbit", "Hacktool.Mimikatz",
          "Backdoor.Cobalt", "PUA.CoinMiner", "Infostealer.Redline")
_RISK_FILES = ("C:\\Users\\{user}\\Downloads\\invoice_{n}.exe", "C:\\Users\\{user}\\AppData\\Local\\Temp\\{n}.tmp",
               "C:\\ProgramData\\Updater\\update{n}.dll", "/tmp/.x{n}/kworker")
_RISK_ACTIONS = ("Quarantined", "Cleaned", "Deleted", "Left alone")
_HEALTH_REASONS = (
    "The Symantec Endpoint Protection Manager server does not have Symantec Endpoint Protection installed.",
    "The database size is approaching its configured maximum.",
    "The free disk space on the server is below 10%.",
)
_LIST_CHANGED = ("Number of clients changed: {n}.  Changes could be that a client was added, renamed, or deleted, "
                 "Unmanaged Detector status changed, client mode changed, or the hardware changed.")
_PACKAGE_MESSAGE = ("A new client software package is available: Symantec Endpoint Protection 14.3 RU10 "
                    "(14.3.11213.1000).<br/>Download it from the console. "
                    "&lt;a class=&quot;bluelink&quot; href=&quot;https://knowledge.broadcom.com/external/article/"
                    "154575&quot; target=&quot;_blank&quot;&gt;Release notes&lt;/a&gt;")


class SepmEventLog:
    """The critical events of a simulated SEPM and what has been acknowledged; built on first use."""

    def __init__(self, fleet: SepmFleet) -> None:
        self.fleet = fleet
        self.critical_readable = True
        self.history = "available"
        """"available", "missing" (no listing: a Tomcat 404) or "forbidden" (401, as for a user without rights)."""
        self.history_seeded = False
        rng = Draw(f"sepm-events:{fleet.seed}")
        now = fleet.now_ms
        low = now - EVENT_DAYS * DAY
        self.events: list[dict[str, Any]] = []
        today = _utc(now).date()
        stale = 0
        scanned = min(fleet.size, RISK_SCAN_LIMIT)
        for index in range(scanned):
            record = fleet.computer(index)
            defs = record.get("avDefsetVersion") or ""
            if len(defs) >= 6 and defs[:6].isdigit() and (today - date(2000 + int(defs[:2]), int(defs[2:4]),
                                                                       int(defs[4:6]))).days > 7:
                stale += 1
            if record["infected"] == 1 and record["lastVirusTime"] >= low:
                self._add(rng, record["lastVirusTime"], "CRITICAL: SINGLE RISK EVENT",
                          self._risk_message(rng, record, index))
            if record["apOnOff"] in (0, 4) and record["lastUpdateTime"] >= low:
                state = "off" if record["apOnOff"] == 0 else "malfunctioning"
                moment = max(low, record["lastUpdateTime"] - rng.randint(0, 2 * DAY))
                self._add(rng, moment, "CRITICAL: CLIENT SECURITY ALERT",
                          f"Auto-Protect is {state}.<br/>Computer: {record['computerName']}<br/>"
                          f"IP Address: {record['ipAddresses'][0]}<br/>Group: {record['group']['name']}")
        stale = stale * fleet.size // max(1, scanned)
        for day in range(EVENT_DAYS):
            start = low + day * DAY
            if day % 3 == 0 and stale:
                self._add(rng, start + rng.randint(0, DAY - 1), "CRITICAL: OLD VIRUS DEFINITIONS",
                          f"{stale} computers found with virus definitions older than 7 days.")
            if day % 4 == 1 and stale:
                self._add(rng, start + rng.randint(0, DAY - 1), "CRITICAL: OLD SONAR DEFINITIONS",
                          f"{max(1, stale // 2)} computers found with SONAR definitions older than 7 days.")
            if rng.random() < 0.6:
                self._add(rng, start + rng.randint(0, DAY - 1),
                          "Informational: Symantec Endpoint Protection Computer List Changed",
                          _LIST_CHANGED.format(n=rng.randint(1, 12)))
            if day % 7 == 2:
                moment = start + rng.randint(0, DAY - 1)
                reported = _utc(moment - rng.randint(5, 30) * _SECOND + _SERVER_UTC_OFFSET_H * HOUR)
                self._add(rng, moment, "Server Health Alert",
                          f"Server {fleet._server['name']} health status: poor. "
                          f"\nReason: {rng.choice(_HEALTH_REASONS)} "
                          f"\nStatus reported on {reported.strftime('%b %d, %Y')} "
                          f"{reported.strftime('%I:%M:%S %p').lstrip('0')}.")
        self._add(rng, low + rng.randint(0, EVENT_DAYS * DAY - 1), "New software package available", _PACKAGE_MESSAGE)
        rng.shuffle(self.events)  # SEPM does not sort them
        for event in self.events:
            old = now - _parse_event_time(event["eventDateTime"]) > 7 * DAY
            event["acknowledged"] = int(rng.random() < (0.7 if old else 0.15))

    def _add(self, rng: random.Random, moment: int, subject: str, message: str) -> None:
        self.events.append({
            "eventId": _hex(rng, 32),
            "eventDateTime": _utc(moment).strftime("%Y-%m-%d %H:%M:%S") + ".0",
            "subject": subject,
            "message": message,
            "acknowledged": 0,
        })

    def _risk_message(self, rng: random.Random, record: dict[str, Any], index: int) -> str:
        spec = _GROUP_SPECS[self.fleet._group[index]]
        if spec.tag == "QRT":  # the Quarantine group's computers hold the demo dropper (issue 5)
            risk, path = "Trojan.Gen.MBT", DEMO_FILES[0].path
        else:
            risk = rng.choice(_RISKS)
            template = _RISK_FILES[3] if record.get("kernel") and not record["osName"].startswith("macOS") else (
                rng.choice(_RISK_FILES[:3]))
            path = template.format(user=record["logonUserName"], n=rng.randint(100, 999))
        return (f"Risk: {risk}<br/>Computer: {record['computerName']}<br/>IP Address: {record['ipAddresses'][0]}"
                f"<br/>Group: {record['group']['name']}<br/>User: {record['logonUserName']}<br/>"
                f"File: {path}<br/>Action taken: {rng.choice(_RISK_ACTIONS)}<br/>Occurrences: 1")

    def body(self, include_acknowledged: bool) -> dict[str, Any]:
        """`CriticalEventsResponse` (fact sheet 10.1, key order of the capture)."""
        listed = [event for event in self.events if include_acknowledged or not event["acknowledged"]]
        return {
            "lastUpdated": self.fleet.now_ms,
            "totalUnacknowledgedMessages": sum(1 for event in self.events if not event["acknowledged"]),
            "criticalEventsInfoList": [dict(event) for event in listed],
        }

    def acknowledge(self, event_id: str) -> None:
        if not _is_hex(event_id) or len(event_id) != 32:
            raise _ApiError(400, f"Invalid event ID {event_id[:80]}")
        for event in self.events:
            if event["eventId"] == event_id.upper():
                event["acknowledged"] = 1
                return
        raise _ApiError(410, f"Event with ID {event_id} do not exist")

    def seed_history(self, actions: SepmHashActions) -> None:
        """Put the last 30 days' Evidence of Compromise scans and file fetches into the command queue, once."""
        if self.history_seeded:
            return
        self.history_seeded = True
        rng = Draw(f"sepm-command-history:{self.fleet.seed}")
        quarantine = next(group["id"] for group in self.fleet.groups
                          if group["fullPathName"] == "My Company\\Quarantine")
        members = actions.group_members(quarantine)
        for day in range(EVENT_DAYS, 0, -2):
            created = self.fleet.now_ms - day * DAY + rng.randint(8 * HOUR, 18 * HOUR)
            demo = rng.choice(DEMO_FILES)
            targets = members if members and rng.random() < 0.4 else sorted(
                rng.sample(range(self.fleet.size), k=min(self.fleet.size, rng.randint(1, 5))))
            command = actions.queue("eoc", targets)
            command.created_ms = created
            command.request = ElementTree.fromstring(
                f'<EOC creator="Endpoint Explorer" version="1.0" id="1"><DataSource>Third-Party Provider'
                f'</DataSource><ScanType>FULL_SCAN</ScanType><Threat category="" type="" severity="" time="">'
                f'<Activity><OS><Files><File name="" action="create"><Hash name="SHA256" value="{demo.sha256}"/>'
                f'</File></Files></OS></Activity></Threat></EOC>')
            command.hashes = [("SHA256", demo.sha256)]
            if day % 6 == 0 and members:
                fetch = actions.queue("fetch", [rng.choice(members)])
                fetch.created_ms = created + rng.randint(1 * HOUR, 3 * HOUR)
                fetch.file_path, fetch.file_hash = DEMO_FILES[0].path, ("SHA256", DEMO_FILES[0].sha256)


_COMMAND_TYPES = {"eoc": "EOC", "fetch": "FileUpload", "cancel": "Cancel"}


def _parse_event_time(text: str) -> int:
    return _ms(datetime.strptime(text, "%Y-%m-%d %H:%M:%S.0").replace(tzinfo=timezone.utc))


def sepm_event_log(simulator: SepmSimulator) -> SepmEventLog:
    """The simulator's event log, made on first use and kept for its fleet."""
    return event_log_of(simulator, SepmEventLog)


@_authenticated
async def critical_events(request: Request) -> Response:
    log = sepm_event_log(_simulator(request))
    if not log.critical_readable:
        return _error(401, _UNAUTHORIZED)
    raw = request.query_params.get("includeAcknowledged", "false").lower()
    if raw not in ("true", "false"):
        raise _ApiError(400, f"Invalid value '{raw}' for parameter includeAcknowledged")
    return JSONResponse(log.body(raw == "true"))


@_authenticated
async def acknowledge_event(request: Request) -> Response:
    log = sepm_event_log(_simulator(request))
    if not log.critical_readable:
        return _error(401, _UNAUTHORIZED)
    _require_content_type(request)
    log.acknowledge(request.path_params["event_id"])
    return Response(status_code=200)


@_authenticated
async def list_commands(request: Request) -> Response:
    simulator = _simulator(request)
    log = sepm_event_log(simulator)
    if log.history == "missing":
        raise HTTPException(404)
    if log.history == "forbidden":
        return _error(401, _UNAUTHORIZED)
    actions = simulator.hash_actions
    log.seed_history(actions)
    actions.tick()
    index, size = _paging(request, default_size=20)
    commands = sorted(actions.commands.values(), key=lambda command: (-command.created_ms, command.id))
    start = (index - 1) * size
    items = []
    for command in commands[start:start + size]:
        file_ids = [row["binaryFileId"] for row in actions.status_rows(command) if row["binaryFileId"]] if (
            command.kind == "fetch") else []
        items.append({"commandId": command.id, "commandType": _COMMAND_TYPES.get(command.kind, command.kind),
                      "beginTime": _iso(command.created_ms), "binaryFileId": file_ids[0] if file_ids else None})
    return JSONResponse(_page(items, index, size, len(commands), "Begintime", False))


def event_routes() -> list[Route]:
    """The critical-event and command-listing routes (under the API base path)."""
    return [
        Route("/events/critical", critical_events, methods=["GET"]),
        Route("/events/acknowledge/{event_id}", acknowledge_event, methods=["POST"]),
        Route("/command-queue", list_commands, methods=["GET"]),
    ]
