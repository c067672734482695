"""A loopback simulator of the SEPM 14 REST API over a generated, deterministic fleet.

Shapes follow ../shared/vendor-apis/sepm.md: page objects (section 4), group records (6.1), computer
records as a 14.3 server sends them (7.4, field order of the captured records), error bodies and status
codes (12), and the quirks a client must survive: `group.fullPathName` is null inside computer records,
unknown paths answer a Tomcat HTML page, and `//` in a path or a POST without a JSON content type
answers 500.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import re
import time
import uuid
from array import array
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from functools import cached_property
from http import HTTPStatus
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route

from tui.simulators import distinct_seeds, fleet_clock
from tui.simulators.faults import FaultInjector, FaultPlan

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "demo-password"

BASE_PATH = "/sepm/api/v1"
MAX_PAGE_SIZE = 1000

ADMIN_ID = "AF3C39A10A320801000000DBF200C60A"
"""The built-in admin's id: every captured server, 2016 to 2023, shows this same value."""

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _utc(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


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

        rng = random.Random(seed)
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

        self.groups: list[dict] = self._build_groups(rng, counts)
        self._group_position = {group["id"]: position for position, group in enumerate(self.groups)}

    def __len__(self) -> int:
        return self.size

    def _sepm_id(self, rng: random.Random) -> str:
        """32 upper-case hex digits with the server's site part in the middle, as SEPM GUIDs have."""
        return f"{_hex(rng, 8)}{self._site}{_hex(rng, 16)}"

    def _build_groups(self, rng: random.Random, counts: Counter[int]) -> list[dict]:
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

    def computer(self, index: int) -> dict:
        """The full SEPM computer record of the index-th computer in name order."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = random.Random(self._detail_seed[index])
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

    def authenticate(self, username: str, password: str, domain: str) -> dict | None:
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
    return request.app.state.simulator


def _authenticated(endpoint):
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


def _page(items: list, index: int, size: int, total: int, sort: str, ascending: bool) -> dict[str, Any]:
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

    def __init__(self, app, simulator: SepmSimulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope, receive, send) -> None:
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
