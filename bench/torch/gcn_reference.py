"""PyTorch reference for the node-level accuracy range quoted in docs/ibmb.md.

A GCN of the same architecture as geobatch's `gcn` in configs/nodes/*-gcn-*.toml (2 layers of 64,
ReLU, dropout 0.5, linear head, log-softmax + NLL, Adam lr 0.01 with weight decay 5e-4, 200
full-batch epochs, last epoch evaluated) on the `.npz` graphs of ../shared/data/graphs, made
undirected with self-loops and feature rows scaled to sum 1, over 5 random Planetoid-style splits
(20 per class / 500 / 1000, numpy seeds 0-4), once with the random-walk D^-1 A and once with the
symmetric D^-1/2 A D^-1/2 normalisation. Needs numpy, scipy and torch.

Usage: python bench/torch/gcn_reference.py cora     (or citeseer)
"""

import pathlib
import sys

import numpy as np
import scipy.sparse as sp
import torch

torch.set_num_threads(2)
ROOT = pathlib.Path(__file__).resolve().parents[2] / '..' / 'shared' / 'data' / 'graphs'
d=np.load(ROOT / (sys.argv[1] + '.npz'), allow_pickle=True)
n=int(d['adj_shape'][0])
A=sp.csr_matrix((np.ones_like(d['adj_data']),d['adj_indices'],d['adj_indptr']),shape=(n,n))
A=((A+A.T)>0).astype(np.float32); A=A.tolil(); A.setdiag(1); A=A.tocsr()
X=sp.csr_matrix((d['attr_data'],d['attr_indices'],d['attr_indptr']),shape=tuple(d['attr_shape'])).toarray()
X=X/np.maximum(X.sum(1,keepdims=True),1e-12)
y=d['labels'].astype(np.int64); C=y.max()+1
deg=np.asarray(A.sum(1)).ravel()
def tens(M):
    M=M.tocoo(); return torch.sparse_coo_tensor(np.vstack([M.row,M.col]),M.data.astype(np.float32),M.shape).coalesce()
rw=tens(sp.diags(1/deg)@A); sym=tens(sp.diags(deg**-0.5)@A@sp.diags(deg**-0.5))
X=torch.tensor(X,dtype=torch.float32); Y=torch.tensor(y)
for norm,An in [('rw',rw),('sym',sym)]:
  accs=[]
  for seed in range(5):
    rng=np.random.default_rng(seed); perm=rng.permutation(n)
    tr=[];cnt=np.zeros(C,int);rest=[]
    for v in perm:
        if cnt[y[v]]<20: tr.append(v);cnt[y[v]]+=1
        else: rest.append(v)
    va=rest[:500]; te=rest[500:1500]
    torch.manual_seed(seed)
    W1=torch.nn.Linear(X.shape[1],64); W2=torch.nn.Linear(64,64); H=torch.nn.Linear(64,C)
    ps=list(W1.parameters())+list(W2.parameters())+list(H.parameters())
    opt=torch.optim.Adam(ps,lr=0.01,weight_decay=5e-4)
    def fwd(train):
        h=torch.relu(torch.sparse.mm(An,W1(X))); h=torch.nn.functional.dropout(h,0.5,train)
        h=torch.relu(torch.sparse.mm(An,W2(h))); h=torch.nn.functional.dropout(h,0.5,train)
        return torch.log_softmax(H(h),1)
    for ep in range(200):
        opt.zero_grad(); l=torch.nn.functional.nll_loss(fwd(True)[tr],Y[tr]); l.backward(); opt.step()
    with torch.no_grad(): p=fwd(False).argmax(1)
    accs.append((p[te]==Y[te]).float().mean().item())
  print(norm, np.round(accs,3), np.mean(accs))
