{
  "patcher": {
    "fileversion": 1,
    "appversion": {
      "major": 8,
      "minor": 5,
      "revision": 0,
      "architecture": "x64",
      "modernui": 1
    },
    "classnamespace": "box",
    "rect": [
      100.0,
      100.0,
      960.0,
      360.0
    ],
    "bglocked": 0,
    "openinpresentation": 0,
    "default_fontsize": 12.0,
    "default_fontface": 0,
    "default_fontname": "Arial",
    "gridonopen": 1,
    "gridsize": [
      15.0,
      15.0
    ],
    "boxes": [
      {
        "box": {
          "id": "obj-title",
          "maxclass": "comment",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            20,
            10,
            760,
            20
          ],
          "text": "cortex-bridge OSC receiver: run the bridge with [osc] enabled = true, targets = [\"127.0.0.1:9000\"]"
        }
      },
      {
        "box": {
          "id": "obj-udp",
          "maxclass": "newobj",
          "numinlets": 1,
          "numoutlets": 1,
          "patching_rect": [
            20,
            50,
            120,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": "udpreceive 9000"
        }
      },
      {
        "box": {
          "id": "obj-route",
          "maxclass": "newobj",
          "numinlets": 1,
          "numoutlets": 12,
          "patching_rect": [
            20,
            90,
            900,
            22
          ],
          "outlettype": [
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            ""
          ],
          "text": "route /emotiv/met /emotiv/pow /emotiv/com/action /emotiv/fac/eye/action /emotiv/fac/upper/action /emotiv/fac/lower/action /emotiv/status /emotiv/met/labels /emotiv/pow/alpha /emotiv/pow/theta /emotiv/eeg/electrodes/labels"
        }
      },
      {
        "box": {
          "id": "obj-label-0",
          "maxclass": "comment",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            20,
            130,
            125,
            20
          ],
          "text": "met"
        }
      },
      {
        "box": {
          "id": "obj-set-0",
          "maxclass": "newobj",
          "numinlets": 1,
          "numoutlets": 1,
          "patching_rect": [
            20,
            160,
            80,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": "prepend set"
        }
      },
      {
        "box": {
          "id": "obj-show-0",
          "maxclass": "message",
          "numinlets": 2,
          "numoutlets": 1,
          "patching_rect": [
            20,
            200,
            125,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": ""
        }
      },
      {
        "box": {
          "id": "obj-label-1",
          "maxclass": "comment",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            150,
            130,
            125,
            20
          ],
          "text": "pow"
        }
      },
      {
        "box": {
          "id": "obj-set-1",
          "maxclass": "newobj",
          "numinlets": 1,
          "numoutlets": 1,
          "patching_rect": [
            150,
            160,
            80,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": "prepend set"
        }
      },
      {
        "box": {
          "id": "obj-show-1",
          "maxclass": "message",
          "numinlets": 2,
          "numoutlets": 1,
          "patching_rect": [
            150,
            200,
            125,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": ""
        }
      },
      {
        "box": {
          "id": "obj-label-2",
          "maxclass": "comment",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            280,
            130,
            125,
            20
          ],
          "text": "com/action"
        }
      },
      {
        "box": {
          "id": "obj-set-2",
          "maxclass": "newobj",
          "numinlets": 1,
          "numoutlets": 1,
          "patching_rect": [
            280,
            160,
            80,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": "prepend set"
        }
      },
      {
        "box": {
          "id": "obj-show-2",
          "maxclass": "message",
          "numinlets": 2,
          "numoutlets": 1,
          "patching_rect": [
            280,
            200,
            125,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": ""
        }
      },
      {
        "box": {
          "id": "obj-label-3",
          "maxclass": "comment",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            410,
            130,
            125,
            20
          ],
          "text": "fac/eye/action"
        }
      },
      {
        "box": {
          "id": "obj-set-3",
          "maxclass": "newobj",
          "numinlets": 1,
          "numoutlets": 1,
          "patching_rect": [
            410,
            160,
            80,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": "prepend set"
        }
      },
      {
        "box": {
          "id": "obj-show-3",
          "maxclass": "message",
          "numinlets": 2,
          "numoutlets": 1,
          "patching_rect": [
            410,
            200,
            125,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": ""
        }
      },
      {
        "box": {
          "id": "obj-label-4",
          "maxclass": "comment",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            540,
            130,
            125,
            20
          ],
          "text": "fac/upper/action"
        }
      },
      {
        "box": {
          "id": "obj-set-4",
          "maxclass": "newobj",
          "numinlets": 1,
          "numoutlets": 1,
          "patching_rect": [
            540,
            160,
            80,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": "prepend set"
        }
      },
      {
        "box": {
          "id": "obj-show-4",
          "maxclass": "message",
          "numinlets": 2,
          "numoutlets": 1,
          "patching_rect": [
            540,
            200,
            125,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": ""
        }
      },
      {
        "box": {
          "id": "obj-label-5",
          "maxclass": "comment",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            670,
            130,
            125,
            20
          ],
          "text": "fac/lower/action"
        }
      },
      {
        "box": {
          "id": "obj-set-5",
          "maxclass": "newobj",
          "numinlets": 1,
          "numoutlets": 1,
          "patching_rect": [
            670,
            160,
            80,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": "prepend set"
        }
      },
      {
        "box": {
          "id": "obj-show-5",
          "maxclass": "message",
          "numinlets": 2,
          "numoutlets": 1,
          "patching_rect": [
            670,
            200,
            125,
            22
          ],
          "outlettype": [
            ""
          ],
          "text": ""
        }
      },
      {
        "box": {
          "id": "obj-label-6",
          "maxclass": "comment",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            800,
            130,
            125,
            20
          ],
          "text": "status"
        }
      },
      {
        "box": {
          "id": "obj-status",
          "maxclass": "number",
          "numinlets": 1,
          "numoutlets": 2,
          "patching_rect": [
            800,
            160,
            50,
            22
          ],
          "outlettype": [
            "",
            "bang"
          ],
          "parameter_enable": 0
        }
      },
      {
        "box": {
          "id": "obj-help",
          "maxclass": "comment",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            20,
            250,
            760,
            50
          ],
          "text": "Each vector message lists the stream's channels in the order of the LSL outlet; <address>/labels names them (e.g. /emotiv/met/labels), /emotiv/eeg/electrodes is EEG without the bookkeeping channels, /emotiv/pow/<band> the band's mean over the electrodes. Every action also has its own numeric address (/emotiv/com/push ...). With several headsets the addresses are /emotiv/<headset id>/...; for hierarchical matching use CNMAT [OSC-route]."
        }
      },
      {
        "box": {
          "id": "obj-label-7",
          "maxclass": "comment",
          "text": "met/labels",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            20,
            320,
            180,
            20
          ]
        }
      },
      {
        "box": {
          "id": "obj-set-7",
          "maxclass": "newobj",
          "text": "prepend set",
          "numinlets": 1,
          "numoutlets": 1,
          "outlettype": [
            ""
          ],
          "patching_rect": [
            20,
            350,
            80,
            22
          ]
        }
      },
      {
        "box": {
          "id": "obj-show-7",
          "maxclass": "message",
          "text": "",
          "numinlets": 2,
          "numoutlets": 1,
          "outlettype": [
            ""
          ],
          "patching_rect": [
            20,
            390,
            180,
            22
          ]
        }
      },
      {
        "box": {
          "id": "obj-label-8",
          "maxclass": "comment",
          "text": "pow/alpha",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            210,
            320,
            180,
            20
          ]
        }
      },
      {
        "box": {
          "id": "obj-show-8",
          "maxclass": "flonum",
          "numinlets": 1,
          "numoutlets": 2,
          "outlettype": [
            "",
            "bang"
          ],
          "parameter_enable": 0,
          "patching_rect": [
            210,
            350,
            60,
            22
          ]
        }
      },
      {
        "box": {
          "id": "obj-label-9",
          "maxclass": "comment",
          "text": "pow/theta",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            400,
            320,
            180,
            20
          ]
        }
      },
      {
        "box": {
          "id": "obj-show-9",
          "maxclass": "flonum",
          "numinlets": 1,
          "numoutlets": 2,
          "outlettype": [
            "",
            "bang"
          ],
          "parameter_enable": 0,
          "patching_rect": [
            400,
            350,
            60,
            22
          ]
        }
      },
      {
        "box": {
          "id": "obj-label-10",
          "maxclass": "comment",
          "text": "eeg/electrodes/labels",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            590,
            320,
            180,
            20
          ]
        }
      },
      {
        "box": {
          "id": "obj-set-10",
          "maxclass": "newobj",
          "text": "prepend set",
          "numinlets": 1,
          "numoutlets": 1,
          "outlettype": [
            ""
          ],
          "patching_rect": [
            590,
            350,
            80,
            22
          ]
        }
      },
      {
        "box": {
          "id": "obj-show-10",
          "maxclass": "message",
          "text": "",
          "numinlets": 2,
          "numoutlets": 1,
          "outlettype": [
            ""
          ],
          "patching_rect": [
            590,
            390,
            180,
            22
          ]
        }
      },
      {
        "box": {
          "id": "obj-loadbang",
          "maxclass": "newobj",
          "text": "loadbang",
          "numinlets": 1,
          "numoutlets": 1,
          "outlettype": [
            "bang"
          ],
          "patching_rect": [
            600,
            440,
            60,
            22
          ]
        }
      },
      {
        "box": {
          "id": "obj-request",
          "maxclass": "message",
          "text": "/emotiv/labels/request",
          "numinlets": 2,
          "numoutlets": 1,
          "outlettype": [
            ""
          ],
          "patching_rect": [
            600,
            470,
            150,
            22
          ]
        }
      },
      {
        "box": {
          "id": "obj-udpsend",
          "maxclass": "newobj",
          "text": "udpsend 127.0.0.1 7403",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            600,
            500,
            150,
            22
          ]
        }
      },
      {
        "box": {
          "id": "obj-request-help",
          "maxclass": "comment",
          "text": "on load (or click): ask the bridge (osc.listen) for every labels message; they also come when a stream starts and every 60 s",
          "numinlets": 1,
          "numoutlets": 0,
          "patching_rect": [
            600,
            530,
            300,
            35
          ]
        }
      }
    ],
    "lines": [
      {
        "patchline": {
          "source": [
            "obj-udp",
            0
          ],
          "destination": [
            "obj-route",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-route",
            0
          ],
          "destination": [
            "obj-set-0",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-set-0",
            0
          ],
          "destination": [
            "obj-show-0",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-route",
            1
          ],
          "destination": [
            "obj-set-1",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-set-1",
            0
          ],
          "destination": [
            "obj-show-1",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-route",
            2
          ],
          "destination": [
            "obj-set-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-set-2",
            0
          ],
          "destination": [
            "obj-show-2",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-route",
            3
          ],
          "destination": [
            "obj-set-3",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-set-3",
            0
          ],
          "destination": [
            "obj-show-3",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-route",
            4
          ],
          "destination": [
            "obj-set-4",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-set-4",
            0
          ],
          "destination": [
            "obj-show-4",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-route",
            5
          ],
          "destination": [
            "obj-set-5",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-set-5",
            0
          ],
          "destination": [
            "obj-show-5",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-route",
            6
          ],
          "destination": [
            "obj-status",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-route",
            7
          ],
          "destination": [
            "obj-set-7",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-set-7",
            0
          ],
          "destination": [
            "obj-show-7",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-route",
            8
          ],
          "destination": [
            "obj-show-8",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-route",
            9
          ],
          "destination": [
            "obj-show-9",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-route",
            10
          ],
          "destination": [
            "obj-set-10",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-set-10",
            0
          ],
          "destination": [
            "obj-show-10",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-loadbang",
            0
          ],
          "destination": [
            "obj-request",
            0
          ]
        }
      },
      {
        "patchline": {
          "source": [
            "obj-request",
            0
          ],
          "destination": [
            "obj-udpsend",
            0
          ]
        }
      }
    ],
    "dependency_cache": [],
    "autosave": 0
  }
}
