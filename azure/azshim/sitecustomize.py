# secylab: Debian 12's azure-cli 2.45 loads the models of azure-mgmt-network
# 2022-01-01 for every network command's arguments (its default profile),
# which Debian's python3-azure does not ship: without them every
# 'az network' command fails before it starts. Alias them, lazily, to the
# 2022-07-01 models it does ship. The express-route port commands are AAZ:
# they build their requests (api-version 2022-01-01) without these models.
import importlib, importlib.abc, importlib.util, sys

_ALIASES = {
    'azure.mgmt.network.v2022_01_01': 'azure.mgmt.network.v2022_07_01',
}

class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        for src, dst in _ALIASES.items():
            if name == src or name.startswith(src + '.'):
                return importlib.util.spec_from_loader(name, self)
        return None
    def create_module(self, spec):
        for src, dst in _ALIASES.items():
            if spec.name == src or spec.name.startswith(src + '.'):
                return importlib.import_module(dst + spec.name[len(src):])
    def exec_module(self, module):
        pass

sys.meta_path.append(_Alias())
