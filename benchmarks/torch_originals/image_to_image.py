"""The PyTorch originals of CycleGAN and pix2pix, written to the definitions of
junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py, models/cycle_gan_model.py,
models/pix2pix_model.py, util/image_pool.py): ResnetGenerator, ResnetBlock, UnetGenerator,
UnetSkipConnectionBlock, NLayerDiscriminator, GANLoss, ImagePool, init_weights('normal',
0.02), and one iteration of each model's `optimize_parameters`.

The modules register their layers in the reference's order (nn.Sequential stacks), which is
their forward order, so `jaxgan.porting` maps their state dicts onto
jaxgan/architectures/image_to_image.py by order. `TorchCycleGAN` / `TorchPix2Pix` take the
same config as jaxgan's trainers (configs/cyclegan.py, configs/pix2pix.py).
"""
import functools
import random

import torch
from torch import nn


def get_norm_layer(norm_type='instance'):
  if norm_type == 'batch':
    return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
  if norm_type == 'instance':
    return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
  if norm_type == 'none':
    return lambda x: nn.Identity()
  raise NotImplementedError(norm_type)


def _uses_bias(norm_layer):
  if type(norm_layer) == functools.partial:
    return norm_layer.func == nn.InstanceNorm2d
  return norm_layer == nn.InstanceNorm2d


class ResnetBlock(nn.Module):

  def __init__(self, dim, padding_type, norm_layer, use_dropout, use_bias):
    super().__init__()
    assert padding_type == 'reflect'
    block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
             norm_layer(dim), nn.ReLU(True)]
    if use_dropout:
      block += [nn.Dropout(0.5)]
    block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
              norm_layer(dim)]
    self.conv_block = nn.Sequential(*block)

  def forward(self, x):
    return x + self.conv_block(x)


class ResnetGenerator(nn.Module):

  def __init__(self, input_nc, output_nc, ngf=64, norm_layer=nn.BatchNorm2d, use_dropout=False,
               n_blocks=6, padding_type='reflect'):
    super().__init__()
    use_bias = _uses_bias(norm_layer)
    model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
             norm_layer(ngf), nn.ReLU(True)]
    n_downsampling = 2
    for i in range(n_downsampling):
      mult = 2 ** i
      model += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                norm_layer(ngf * mult * 2), nn.ReLU(True)]
    mult = 2 ** n_downsampling
    for i in range(n_blocks):
      model += [ResnetBlock(ngf * mult, padding_type=padding_type, norm_layer=norm_layer,
                            use_dropout=use_dropout, use_bias=use_bias)]
    for i in range(n_downsampling):
      mult = 2 ** (n_downsampling - i)
      model += [nn.ConvTranspose2d(ngf * mult, int(ngf * mult / 2), kernel_size=3, stride=2,
                                   padding=1, output_padding=1, bias=use_bias),
                norm_layer(int(ngf * mult / 2)), nn.ReLU(True)]
    model += [nn.ReflectionPad2d(3)]
    model += [nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0)]
    model += [nn.Tanh()]
    self.model = nn.Sequential(*model)

  def forward(self, input):
    return self.model(input)


class UnetSkipConnectionBlock(nn.Module):

  def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False,
               innermost=False, norm_layer=nn.BatchNorm2d, use_dropout=False):
    super().__init__()
    self.outermost = outermost
    use_bias = _uses_bias(norm_layer)
    if input_nc is None:
      input_nc = outer_nc
    downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
    downrelu = nn.LeakyReLU(0.2, True)
    downnorm = norm_layer(inner_nc)
    uprelu = nn.ReLU(True)
    upnorm = norm_layer(outer_nc)
    if outermost:
      upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
      down = [downconv]
      up = [uprelu, upconv, nn.Tanh()]
      model = down + [submodule] + up
    elif innermost:
      upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
      down = [downrelu, downconv]
      up = [uprelu, upconv, upnorm]
      model = down + up
    else:
      upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
      down = [downrelu, downconv, downnorm]
      up = [uprelu, upconv, upnorm]
      model = down + [submodule] + up + ([nn.Dropout(0.5)] if use_dropout else [])
    self.model = nn.Sequential(*model)

  def forward(self, x):
    if self.outermost:
      return self.model(x)
    return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):

  def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm_layer=nn.BatchNorm2d,
               use_dropout=False):
    super().__init__()
    block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, input_nc=None, submodule=None,
                                    norm_layer=norm_layer, innermost=True)
    for _ in range(num_downs - 5):
      block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, input_nc=None, submodule=block,
                                      norm_layer=norm_layer, use_dropout=use_dropout)
    block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, input_nc=None, submodule=block, norm_layer=norm_layer)
    block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, input_nc=None, submodule=block, norm_layer=norm_layer)
    block = UnetSkipConnectionBlock(ngf, ngf * 2, input_nc=None, submodule=block, norm_layer=norm_layer)
    self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block,
                                         outermost=True, norm_layer=norm_layer)

  def forward(self, input):
    return self.model(input)


class NLayerDiscriminator(nn.Module):

  def __init__(self, input_nc, ndf=64, n_layers=3, norm_layer=nn.BatchNorm2d):
    super().__init__()
    use_bias = _uses_bias(norm_layer)
    kw, padw = 4, 1
    sequence = [nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]
    nf_mult = 1
    for n in range(1, n_layers):
      nf_mult_prev, nf_mult = nf_mult, min(2 ** n, 8)
      sequence += [nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=2,
                             padding=padw, bias=use_bias),
                   norm_layer(ndf * nf_mult), nn.LeakyReLU(0.2, True)]
    nf_mult_prev, nf_mult = nf_mult, min(2 ** n_layers, 8)
    sequence += [nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=1,
                           padding=padw, bias=use_bias),
                 norm_layer(ndf * nf_mult), nn.LeakyReLU(0.2, True)]
    sequence += [nn.Conv2d(ndf * nf_mult, 1, kernel_size=kw, stride=1, padding=padw)]
    self.model = nn.Sequential(*sequence)

  def forward(self, input):
    return self.model(input)


def init_weights(net, init_gain=0.02):
  """The reference's init_weights(net, 'normal', 0.02)."""
  def init_func(m):
    classname = m.__class__.__name__
    if hasattr(m, 'weight') and (classname.find('Conv') != -1 or classname.find('Linear') != -1):
      nn.init.normal_(m.weight.data, 0.0, init_gain)
      if hasattr(m, 'bias') and m.bias is not None:
        nn.init.constant_(m.bias.data, 0.0)
    elif classname.find('BatchNorm2d') != -1:
      nn.init.normal_(m.weight.data, 1.0, init_gain)
      nn.init.constant_(m.bias.data, 0.0)
  net.apply(init_func)
  return net


class GANLoss(nn.Module):
  """gan_mode 'lsgan' (MSELoss) or 'vanilla' (BCEWithLogitsLoss) against constant targets."""

  def __init__(self, gan_mode):
    super().__init__()
    self.register_buffer('real_label', torch.tensor(1.0))
    self.register_buffer('fake_label', torch.tensor(0.0))
    self.loss = nn.MSELoss() if gan_mode == 'lsgan' else nn.BCEWithLogitsLoss()

  def __call__(self, prediction, target_is_real):
    target = (self.real_label if target_is_real else self.fake_label).expand_as(prediction)
    return self.loss(prediction, target)


class ImagePool:

  def __init__(self, pool_size):
    self.pool_size = pool_size
    self.num_imgs = 0
    self.images = []

  def query(self, images):
    if self.pool_size == 0:
      return images
    return_images = []
    for image in images:
      image = torch.unsqueeze(image.data, 0)
      if self.num_imgs < self.pool_size:
        self.num_imgs += 1
        self.images.append(image)
        return_images.append(image)
      else:
        p = random.uniform(0, 1)
        if p > 0.5:
          random_id = random.randint(0, self.pool_size - 1)
          tmp = self.images[random_id].clone()
          self.images[random_id] = image
          return_images.append(tmp)
        else:
          return_images.append(image)
    return torch.cat(return_images, 0)


GAN_MODES = {'least_squares': 'lsgan', 'non_saturating': 'vanilla'}


def make_generator(config, input_nc, output_nc):
  model = config.model
  norm = get_norm_layer(model.norm)
  dropout = float(model.dropout) > 0
  if model.generator == 'resnet':
    net = ResnetGenerator(input_nc, output_nc, model.g_features, norm, dropout, model.resnet_blocks)
  else:
    net = UnetGenerator(input_nc, output_nc, model.unet_downs, model.g_features, norm, dropout)
  return init_weights(net)


def make_discriminator(config, input_nc):
  model = config.model
  return init_weights(NLayerDiscriminator(input_nc, model.d_features, model.d_layers,
                                          get_norm_layer(model.norm)))


def _adam(config, params, lr):
  return torch.optim.Adam(params, lr=lr, betas=(config.optim.b1, config.optim.b2),
                          eps=config.optim.eps)


class TorchCycleGAN:
  """CycleGANModel's nets, losses and one `optimize_parameters` iteration. Names as in the
  reference: netG_A (A -> B), netG_B (B -> A), netD_A (judges domain B), netD_B (domain A)."""

  def __init__(self, config, input_nc, output_nc):
    self.netG_A = make_generator(config, input_nc, output_nc)
    self.netG_B = make_generator(config, output_nc, input_nc)
    self.netD_A = make_discriminator(config, output_nc)
    self.netD_B = make_discriminator(config, input_nc)
    self.lambda_A, self.lambda_B = config.cycle.weight_a, config.cycle.weight_b
    self.lambda_idt = config.cycle.identity
    self.fake_A_pool = ImagePool(config.cycle.pool_size)
    self.fake_B_pool = ImagePool(config.cycle.pool_size)
    self.criterionGAN = GANLoss(GAN_MODES[config.objective])
    self.criterionCycle = nn.L1Loss()
    self.criterionIdt = nn.L1Loss()
    import itertools
    self.optimizer_G = _adam(config, itertools.chain(self.netG_A.parameters(), self.netG_B.parameters()),
                             config.optim.g_lr)
    self.optimizer_D = _adam(config, itertools.chain(self.netD_A.parameters(), self.netD_B.parameters()),
                             config.optim.d_lr)

  def nets(self):
    return [self.netG_A, self.netG_B, self.netD_A, self.netD_B]

  def train(self):
    for net in self.nets():
      net.train()
    return self

  @staticmethod
  def set_requires_grad(nets, requires_grad):
    for net in nets:
      for p in net.parameters():
        p.requires_grad = requires_grad

  def optimize_parameters(self, real_A, real_B):
    self.real_A, self.real_B = real_A, real_B
    self.fake_B = self.netG_A(real_A)
    self.rec_A = self.netG_B(self.fake_B)
    self.fake_A = self.netG_B(real_B)
    self.rec_B = self.netG_A(self.fake_A)
    self.set_requires_grad([self.netD_A, self.netD_B], False)
    self.optimizer_G.zero_grad()
    if self.lambda_idt > 0:
      self.idt_A = self.netG_A(real_B)
      self.loss_idt_A = self.criterionIdt(self.idt_A, real_B) * self.lambda_B * self.lambda_idt
      self.idt_B = self.netG_B(real_A)
      self.loss_idt_B = self.criterionIdt(self.idt_B, real_A) * self.lambda_A * self.lambda_idt
    else:
      self.loss_idt_A = self.loss_idt_B = 0
    self.loss_G_A = self.criterionGAN(self.netD_A(self.fake_B), True)
    self.loss_G_B = self.criterionGAN(self.netD_B(self.fake_A), True)
    self.loss_cycle_A = self.criterionCycle(self.rec_A, real_A) * self.lambda_A
    self.loss_cycle_B = self.criterionCycle(self.rec_B, real_B) * self.lambda_B
    self.loss_G = (self.loss_G_A + self.loss_G_B + self.loss_cycle_A + self.loss_cycle_B
                   + self.loss_idt_A + self.loss_idt_B)
    self.loss_G.backward()
    self.optimizer_G.step()
    self.set_requires_grad([self.netD_A, self.netD_B], True)
    self.optimizer_D.zero_grad()
    self.loss_D_A = self.backward_D_basic(self.netD_A, real_B, self.fake_B_pool.query(self.fake_B))
    self.loss_D_B = self.backward_D_basic(self.netD_B, real_A, self.fake_A_pool.query(self.fake_A))
    self.optimizer_D.step()
    return float(self.loss_G.detach())

  def backward_D_basic(self, netD, real, fake):
    loss_D = (self.criterionGAN(netD(real), True) + self.criterionGAN(netD(fake.detach()), False)) * 0.5
    loss_D.backward()
    return loss_D


class TorchPix2Pix:
  """Pix2PixModel's nets, losses and one `optimize_parameters` iteration."""

  def __init__(self, config, input_nc, output_nc):
    self.netG = make_generator(config, input_nc, output_nc)
    self.netD = make_discriminator(config, input_nc + output_nc)
    self.criterionGAN = GANLoss(GAN_MODES[config.objective])
    self.criterionL1 = nn.L1Loss()
    self.lambda_L1 = config.pix2pix.l1_weight
    self.optimizer_G = _adam(config, self.netG.parameters(), config.optim.g_lr)
    self.optimizer_D = _adam(config, self.netD.parameters(), config.optim.d_lr)

  def nets(self):
    return [self.netG, self.netD]

  def train(self):
    for net in self.nets():
      net.train()
    return self

  def optimize_parameters(self, real_A, real_B):
    self.fake_B = self.netG(real_A)
    for p in self.netD.parameters():
      p.requires_grad = True
    self.optimizer_D.zero_grad()
    fake_AB = torch.cat((real_A, self.fake_B), 1)
    loss_D_fake = self.criterionGAN(self.netD(fake_AB.detach()), False)
    real_AB = torch.cat((real_A, real_B), 1)
    loss_D_real = self.criterionGAN(self.netD(real_AB), True)
    self.loss_D = (loss_D_fake + loss_D_real) * 0.5
    self.loss_D.backward()
    self.optimizer_D.step()
    for p in self.netD.parameters():
      p.requires_grad = False
    self.optimizer_G.zero_grad()
    self.loss_G_GAN = self.criterionGAN(self.netD(fake_AB), True)
    self.loss_G_L1 = self.criterionL1(self.fake_B, real_B) * self.lambda_L1
    self.loss_G = self.loss_G_GAN + self.loss_G_L1
    self.loss_G.backward()
    self.optimizer_G.step()
    return float(self.loss_G.detach())
